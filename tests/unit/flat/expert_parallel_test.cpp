// Expert parallelism inside one process: G members (threads, summing through a shared buffer) each hold a
// share of the routed experts of one MoE layer; their forward equals the whole layer's and, after
// FlatLayer::reduce_expert_shared_gradients, every parameter's gradient equals the whole layer's gradient
// of the same parameter (float64; the sums only change order). The exported per-expert tensors of every
// member are the whole layer's.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "lib/flat/flat_layer.h"
#include "lib/model/decoder_layer.h"
#include "lib/model/rope.h"
#include "tests/support/random_frozen_layers.h"
#include "tests/support/random_layers.h"

namespace fq::flat {
namespace {

// float64 parameters and weights, but the routed outputs are combined in float32 (as HF does) and the
// router runs in float32: the members' float32 partial sums added in another order move values by float32
// rounding: up to 2e-6 relative on outputs and most gradients, 2e-5 .. 1.04e-4 on activation clip gradients
// (sums of many per-element terms that the perturbation reorders; the larger figure on a CPU whose BLAS sums
// in another order, 3 members with per-expert down transforms).
constexpr double kSumOrderTol = 3e-4;

// ||a - b|| / ||b||, 0 when both are zero (a symmetric quantizer's unused clip logit).
double relative_difference(const at::Tensor& a, const at::Tensor& b) {
  const double diff = (a.to(at::kDouble) - b.to(at::kDouble)).norm().item<double>();
  const double ref = b.to(at::kDouble).norm().item<double>();
  return diff == 0 ? 0 : diff / ref;
}

// An all-reduce between threads: every member adds its tensor; each gets the sum (in member order).
class ThreadSum {
 public:
  explicit ThreadSum(int members) : slots_(members) {}
  void allreduce(int member, at::Tensor& t) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !draining_; });  // the previous round is handed out
    slots_[member] = t.to(at::kDouble).clone();
    if (++arrived_ == static_cast<int>(slots_.size())) {
      result_ = slots_[0].clone();
      for (size_t i = 1; i < slots_.size(); ++i) result_ += slots_[i];
      draining_ = true;
      changed_.notify_all();
    } else {
      changed_.wait(lock, [&] { return draining_; });
    }
    t.copy_(result_);
    if (--arrived_ == 0) {
      draining_ = false;
      changed_.notify_all();
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<at::Tensor> slots_;
  at::Tensor result_;
  int arrived_ = 0;
  bool draining_ = false;
};

FlatOptions options(bool per_expert) {
  FlatOptions o;
  o.linear.weight = {4, true, 0};
  o.linear.act = {4, true, 0};
  o.param_dtype = at::kDouble;
  o.per_expert_down_transform = per_expert;
  o.per_expert_act_quantizers = per_expert;
  return o;
}

std::vector<int64_t> round_robin(int member, int members, int64_t experts) {
  std::vector<int64_t> ids;
  for (int64_t e = member; e < experts; e += members) ids.push_back(e);
  return ids;
}

// The member's name of a whole-layer parameter: per-expert routed down transforms count held experts.
std::string whole_name(const std::string& name, const std::vector<int64_t>& experts) {
  const std::string prefix = "routed_down_in.e";
  if (name.rfind(prefix, 0) != 0) return name;
  const size_t dot = name.find('.', prefix.size());
  return prefix + std::to_string(experts[std::stoll(name.substr(prefix.size(), dot - prefix.size()))]) +
         name.substr(dot);
}

// The whole-layer tensor as the member holds it: its experts' rows where the shapes differ.
at::Tensor as_member(const at::Tensor& whole, const at::Tensor& member, const std::vector<int64_t>& experts) {
  if (whole.sizes() == member.sizes()) return whole;
  return whole.index_select(0, at::tensor(experts, at::kLong));
}

struct Outcome {
  at::Tensor out;
  std::map<std::string, at::Tensor> grads;  // by whole-layer name
  NamedTensors frozen;
};

Outcome run(const io::ModelConfig& config, const model::DeepseekLayerWeights& weights, const FlatLayer& whole,
            FlatLayer& flat, const at::Tensor& x, const at::Tensor& target, const std::vector<int64_t>& experts) {
  {
    at::NoGradGuard no_grad;
    std::map<std::string, at::Tensor> values;
    for (const auto& [name, p] : whole.named_parameters()) values[name] = p;
    for (auto& [name, p] : flat.named_parameters()) p.copy_(as_member(values.at(whole_name(name, experts)), p, experts));
  }
  flat.refresh();
  const model::RopeTables rope = model::RotaryEmbedding::for_model(config).tables(x.size(1), at::kDouble, at::kCPU);
  Outcome o;
  o.out = model::layer_forward(config, model::LayerWeights(weights), x, rope, flat);
  (o.out - target).pow(2).mean().backward();
  flat.reduce_expert_shared_gradients();
  for (const auto& [name, p] : flat.named_parameters()) {
    o.grads[whole_name(name, experts)] = p.grad().defined() ? p.grad().clone() : at::zeros_like(p);
  }
  o.frozen = flat.export_frozen();
  return o;
}

model::DeepseekLayerWeights share_of(const model::DeepseekLayerWeights& w, const std::vector<int64_t>& experts) {
  model::DeepseekLayerWeights s = w;
  model::MoeWeights moe = *w.moe;
  const at::Tensor ids = at::tensor(experts, at::kLong);
  moe.expert_ids = experts;
  moe.gate = w.moe->gate.index_select(0, ids);
  moe.up = w.moe->up.index_select(0, ids);
  moe.down = w.moe->down.index_select(0, ids);
  s.moe = moe;
  return s;
}

class ExpertParallel : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(ExpertParallel, MembersReproduceTheWholeLayerForwardAndGradients) {
  const auto [members, per_expert] = GetParam();
  io::ModelConfig config = model::test::small_deepseek_config(/*q_lora=*/true);
  config.first_k_dense_replace = 0;
  const model::DeepseekLayerWeights weights = model::test::random_deepseek_layer(config, /*moe=*/true, 11, at::kDouble);
  at::manual_seed(12);
  const at::Tensor x = at::randn({2, 8, config.hidden_size}, at::kDouble);
  const at::Tensor target = at::randn({2, 8, config.hidden_size}, at::kDouble);

  at::Generator gen = at::detail::createCPUGenerator(13);
  FlatLayer whole(config, 0, options(per_expert), gen, at::kCPU);
  test::perturb(whole, /*seed=*/14, /*clip_logit_mean=*/1.5);
  const Outcome reference = run(config, weights, whole, whole, x, target, round_robin(0, 1, config.n_routed_experts));

  ThreadSum sum(members);
  std::vector<Outcome> outcomes(members);
  std::vector<std::string> failures(members);
  std::vector<std::thread> threads;
  for (int m = 0; m < members; ++m) {
    threads.emplace_back([&, m] {
      try {
        ExpertGroup group;
        group.member = m;
        group.members = members;
        group.experts = round_robin(m, members, config.n_routed_experts);
        group.allreduce_sum = [&sum, m](at::Tensor& t) { sum.allreduce(m, t); };
        at::Generator member_gen = at::detail::createCPUGenerator(13);
        FlatLayer flat(config, 0, options(per_expert), member_gen, at::kCPU, group);
        outcomes[m] = run(config, share_of(weights, group.experts), whole, flat, x, target, group.experts);
      } catch (const std::exception& e) {
        failures[m] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int m = 0; m < members; ++m) {
    ASSERT_EQ(failures[m], "") << "member " << m;
    const std::vector<int64_t> experts = round_robin(m, members, config.n_routed_experts);
    EXPECT_LT(relative_difference(outcomes[m].out, reference.out), kSumOrderTol) << "member " << m;
    for (const auto& [name, grad] : outcomes[m].grads) {
      ASSERT_TRUE(reference.grads.count(name)) << name;
      const at::Tensor expected = as_member(reference.grads.at(name), grad, experts);
      EXPECT_LT(relative_difference(grad, expected), kSumOrderTol) << "member " << m << " gradient of " << name;
    }
    ASSERT_EQ(outcomes[m].frozen.size(), reference.frozen.size());
    for (size_t i = 0; i < reference.frozen.size(); ++i) {
      EXPECT_EQ(outcomes[m].frozen[i].first, reference.frozen[i].first);
      EXPECT_TRUE(outcomes[m].frozen[i].second.equal(reference.frozen[i].second))
          << "member " << m << " exports " << reference.frozen[i].first;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Groups, ExpertParallel,
                         ::testing::Combine(::testing::Values(2, 3), ::testing::Values(false, true)),
                         [](const auto& info) {
                           return std::to_string(std::get<0>(info.param)) + "members_" +
                                  (std::get<1>(info.param) ? "per_expert" : "shared");
                         });

}  // namespace
}  // namespace fq::flat
