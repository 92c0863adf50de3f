// The contract between the forward passes and FlatQuant: every hook is called at its documented site,
// with the documented shapes, and what a hook returns is what the next step consumes.
#include "lib/model/layer_hooks.h"

#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/model/deepseek_layer.h"
#include "lib/model/llama_layer.h"
#include "tests/support/random_layers.h"

namespace fq::model {
namespace {

// x*2 against W/2 is exact in binary floating point, so compensated scalings must reproduce the base
// forward up to summation order (identical here); the bound only absorbs platform noise.
constexpr double kCompensatedRelTol = 1e-6;

const char* name(LinearGroup g) {
  switch (g) {
    case LinearGroup::kAttnIn: return "AttnIn";
    case LinearGroup::kQbIn: return "QbIn";
    case LinearGroup::kOIn: return "OIn";
    case LinearGroup::kMlpIn: return "MlpIn";
    case LinearGroup::kDownIn: return "DownIn";
    case LinearGroup::kMoeIn: return "MoeIn";
    case LinearGroup::kSharedDownIn: return "SharedDownIn";
  }
  return "?";
}

const char* name(LinearSite s) {
  switch (s) {
    case LinearSite::kQ: return "Q";
    case LinearSite::kK: return "K";
    case LinearSite::kV: return "V";
    case LinearSite::kO: return "O";
    case LinearSite::kQA: return "QA";
    case LinearSite::kQB: return "QB";
    case LinearSite::kKVA: return "KVA";
    case LinearSite::kKVB: return "KVB";
    case LinearSite::kGate: return "Gate";
    case LinearSite::kUp: return "Up";
    case LinearSite::kDown: return "Down";
    case LinearSite::kSharedGate: return "SharedGate";
    case LinearSite::kSharedUp: return "SharedUp";
    case LinearSite::kSharedDown: return "SharedDown";
  }
  return "?";
}

const char* name(ExpertSite s) {
  switch (s) {
    case ExpertSite::kGate: return "gate";
    case ExpertSite::kUp: return "up";
    case ExpertSite::kDown: return "down";
  }
  return "?";
}

std::string shape(const at::Tensor& t) {
  std::ostringstream out;
  out << t.sizes();
  return out.str();
}

// Records "<hook> <site> <input shape>" for every call, then behaves as the base class.
class RecordingHooks : public LayerHooks {
 public:
  std::vector<std::string> events;
  std::vector<std::vector<int64_t>> counts_seen;

  at::Tensor group_input(LinearGroup g, const at::Tensor& x) override {
    events.push_back(std::string("group ") + name(g) + " " + shape(x));
    return LayerHooks::group_input(g, x);
  }
  at::Tensor linear(LinearSite s, const at::Tensor& x, const at::Tensor& w) override {
    events.push_back(std::string("linear ") + name(s) + " " + shape(x) + " w=" + shape(w));
    return LayerHooks::linear(s, x, w);
  }
  void query_key(at::Tensor& q, at::Tensor& k) override {
    events.push_back("query_key " + shape(q) + " " + shape(k));
  }
  at::Tensor value_cache(const at::Tensor& v) override {
    events.push_back("value_cache " + shape(v));
    return v;
  }
  at::Tensor attention_output(const at::Tensor& attn) override {
    events.push_back("attention_output " + shape(attn));
    return LayerHooks::attention_output(attn);
  }
  at::Tensor expert_linear(ExpertSite s, const at::Tensor& x, const std::vector<int64_t>& counts,
                           const at::Tensor& w) override {
    events.push_back(std::string("expert_linear ") + name(s) + " " + shape(x) + " w=" + shape(w));
    counts_seen.push_back(counts);
    return LayerHooks::expert_linear(s, x, counts, w);
  }
  at::Tensor expert_down_group_input(const at::Tensor& a, const std::vector<int64_t>& counts) override {
    events.push_back("expert_down_group_input " + shape(a));
    counts_seen.push_back(counts);
    return a;
  }
};

// Identity written differently from the base class: must give the same layer.
class IdentityHooks : public LayerHooks {
 public:
  at::Tensor group_input(LinearGroup, const at::Tensor& x) override { return x.clone(); }
  at::Tensor linear(LinearSite, const at::Tensor& x, const at::Tensor& w) override { return at::matmul(x, w.t()); }
  void query_key(at::Tensor& q, at::Tensor& k) override {
    q = q.clone();
    k = k.contiguous();
  }
  at::Tensor value_cache(const at::Tensor& v) override { return v.clone(); }
  at::Tensor attention_output(const at::Tensor& a) override { return a.reshape({a.size(0), a.size(1), -1}); }
  at::Tensor expert_linear(ExpertSite, const at::Tensor& x, const std::vector<int64_t>& counts,
                           const at::Tensor& w) override {
    // One matmul per expert written out here rather than through grouped_linear.
    std::vector<at::Tensor> out;
    int64_t begin = 0;
    for (size_t e = 0; e < counts.size(); begin += counts[e], ++e) {
      if (counts[e] > 0) out.push_back(at::matmul(x.narrow(0, begin, counts[e]), w[e].t()));
    }
    return at::cat(out);
  }
  at::Tensor expert_down_group_input(const at::Tensor& a, const std::vector<int64_t>&) override { return a.clone(); }
};

// Scales what one hook point hands on by 2 and compensates by 1/2 at exactly the consumers the contract
// names. If a hook were skipped, applied elsewhere, or its return value ignored, the output would change.
enum class Point { kGroup, kQueryKey, kValueCache, kRoutedDown };

class CompensatedHooks : public LayerHooks {
 public:
  CompensatedHooks(Point point, LinearGroup group, std::set<LinearSite> consumers, std::set<ExpertSite> experts)
      : point_(point), group_(group), consumers_(std::move(consumers)), experts_(std::move(experts)) {}

  at::Tensor group_input(LinearGroup g, const at::Tensor& x) override {
    return point_ == Point::kGroup && g == group_ ? x * 2 : x;
  }
  at::Tensor linear(LinearSite s, const at::Tensor& x, const at::Tensor& w) override {
    return at::linear(x, consumers_.count(s) ? w / 2 : w);
  }
  void query_key(at::Tensor& q, at::Tensor& k) override {
    if (point_ == Point::kQueryKey) q = q * 2, k = k / 2;
  }
  at::Tensor value_cache(const at::Tensor& v) override { return point_ == Point::kValueCache ? v * 2 : v; }
  at::Tensor attention_output(const at::Tensor& a) override {
    at::Tensor flat = LayerHooks::attention_output(a);
    return point_ == Point::kValueCache ? flat / 2 : flat;
  }
  at::Tensor expert_linear(ExpertSite s, const at::Tensor& x, const std::vector<int64_t>& counts,
                           const at::Tensor& w) override {
    return LayerHooks::expert_linear(s, x, counts, experts_.count(s) ? w / 2 : w);
  }
  at::Tensor expert_down_group_input(const at::Tensor& a, const std::vector<int64_t>&) override {
    return point_ == Point::kRoutedDown ? a * 2 : a;
  }

 private:
  Point point_;
  LinearGroup group_;
  std::set<LinearSite> consumers_;
  std::set<ExpertSite> experts_;
};

struct Fixture {
  io::ModelConfig config;
  LayerWeights weights;
  at::Tensor x;
  RopeTables rope;
  at::Tensor forward(LayerHooks& hooks) const {
    if (const auto* w = std::get_if<LlamaLayerWeights>(&weights)) return llama_layer_forward(config, *w, x, rope, hooks);
    return deepseek_layer_forward(config, std::get<DeepseekLayerWeights>(weights), x, rope, hooks);
  }
};

Fixture llama_fixture() {
  Fixture f{test::small_llama_config(), {}, {}, {}};
  f.weights = test::random_llama_layer(f.config, 51, at::kFloat);
  at::manual_seed(52);
  f.x = at::randn({2, 6, 64});
  f.rope = RotaryEmbedding::for_model(f.config).tables(6, at::kFloat, at::kCPU);
  return f;
}

Fixture deepseek_fixture(bool q_lora, bool moe) {
  Fixture f{test::small_deepseek_config(q_lora), {}, {}, {}};
  f.weights = test::random_deepseek_layer(f.config, moe, 53, at::kFloat);
  at::manual_seed(54);
  f.x = at::randn({2, 6, 64});
  f.rope = RotaryEmbedding::for_model(f.config).tables(6, at::kFloat, at::kCPU);
  return f;
}

TEST(LayerHooks, LlamaCallsEveryHookAtItsSite) {
  const Fixture f = llama_fixture();
  RecordingHooks hooks;
  f.forward(hooks);
  const std::vector<std::string> expected = {
      "group AttnIn [2, 6, 64]",
      "linear Q [2, 6, 64] w=[64, 64]",
      "linear K [2, 6, 64] w=[32, 64]",
      "linear V [2, 6, 64] w=[32, 64]",
      "query_key [2, 4, 6, 16] [2, 2, 6, 16]",
      "value_cache [2, 2, 6, 16]",
      "attention_output [2, 6, 4, 16]",
      "linear O [2, 6, 64] w=[64, 64]",
      "group MlpIn [2, 6, 64]",
      "linear Gate [2, 6, 64] w=[96, 64]",
      "linear Up [2, 6, 64] w=[96, 64]",
      "group DownIn [2, 6, 96]",
      "linear Down [2, 6, 96] w=[64, 96]",
  };
  EXPECT_EQ(hooks.events, expected);
}

TEST(LayerHooks, DeepseekMoeCallsEveryHookAtItsSite) {
  const Fixture f = deepseek_fixture(true, true);
  RecordingHooks hooks;
  f.forward(hooks);
  // 12 tokens x top-3 = 36 sorted expert rows; qk head 24, v head 12, latent 16 + rope 8.
  const std::vector<std::string> expected = {
      "group AttnIn [2, 6, 64]",
      "linear QA [2, 6, 64] w=[32, 64]",
      "group QbIn [2, 6, 32]",
      "linear QB [2, 6, 32] w=[96, 32]",
      "linear KVA [2, 6, 64] w=[24, 64]",
      "linear KVB [2, 6, 16] w=[112, 16]",
      "group OIn [2, 6, 48]",
      "linear O [2, 6, 48] w=[64, 48]",
      "group MoeIn [2, 6, 64]",
      "expert_linear gate [36, 64] w=[8, 24, 64]",
      "expert_linear up [36, 64] w=[8, 24, 64]",
      "expert_down_group_input [36, 24]",
      "expert_linear down [36, 24] w=[8, 64, 24]",
      "linear SharedGate [2, 6, 64] w=[24, 64]",
      "linear SharedUp [2, 6, 64] w=[24, 64]",
      "group SharedDownIn [2, 6, 24]",
      "linear SharedDown [2, 6, 24] w=[64, 24]",
  };
  EXPECT_EQ(hooks.events, expected);
  ASSERT_EQ(hooks.counts_seen.size(), 4u);
  for (const std::vector<int64_t>& counts : hooks.counts_seen) {
    ASSERT_EQ(counts.size(), 8u);
    EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), int64_t{0}), 36);
  }
}

TEST(LayerHooks, DeepseekDensePlainQCallsEveryHookAtItsSite) {
  const Fixture f = deepseek_fixture(false, false);
  RecordingHooks hooks;
  f.forward(hooks);
  const std::vector<std::string> expected = {
      "group AttnIn [2, 6, 64]",
      "linear Q [2, 6, 64] w=[96, 64]",
      "linear KVA [2, 6, 64] w=[24, 64]",
      "linear KVB [2, 6, 16] w=[112, 16]",
      "group OIn [2, 6, 48]",
      "linear O [2, 6, 48] w=[64, 48]",
      "group MlpIn [2, 6, 64]",
      "linear Gate [2, 6, 64] w=[96, 64]",
      "linear Up [2, 6, 64] w=[96, 64]",
      "group DownIn [2, 6, 96]",
      "linear Down [2, 6, 96] w=[64, 96]",
  };
  EXPECT_EQ(hooks.events, expected);
}

TEST(LayerHooks, IdentityOverrideReproducesBaseForward) {
  for (const Fixture& f : {llama_fixture(), deepseek_fixture(true, true), deepseek_fixture(false, false)}) {
    LayerHooks base;
    IdentityHooks identity;
    EXPECT_LT(test::relative_l2(f.forward(identity), f.forward(base)), kCompensatedRelTol) << f.config.model_type;
  }
}

struct CompensationCase {
  const char* what;
  Point point;
  LinearGroup group;
  std::set<LinearSite> consumers;
  std::set<ExpertSite> experts;
};

void expect_compensated(const Fixture& f, const CompensationCase& c) {
  LayerHooks base;
  CompensatedHooks hooks(c.point, c.group, c.consumers, c.experts);
  const at::Tensor expected = f.forward(base);
  EXPECT_LT(test::relative_l2(f.forward(hooks), expected), kCompensatedRelTol) << c.what;
  // The same scaling without its compensation must show: the check can fail.
  CompensatedHooks uncompensated(c.point, c.group, {}, {});
  EXPECT_GT(test::relative_l2(f.forward(uncompensated), expected), 1e-3) << c.what << " (uncompensated)";
}

TEST(LayerHooks, LlamaHookOutputsFeedExactlyTheirConsumers) {
  using S = LinearSite;
  const Fixture f = llama_fixture();
  const LinearGroup none = LinearGroup::kAttnIn;
  for (const CompensationCase& c : {
           CompensationCase{"AttnIn -> q, k, v", Point::kGroup, LinearGroup::kAttnIn, {S::kQ, S::kK, S::kV}, {}},
           CompensationCase{"MlpIn -> gate, up", Point::kGroup, LinearGroup::kMlpIn, {S::kGate, S::kUp}, {}},
           CompensationCase{"DownIn -> down", Point::kGroup, LinearGroup::kDownIn, {S::kDown}, {}},
       }) {
    expect_compensated(f, c);
  }
  // q * 2, k / 2 leaves q k^T unchanged; v * 2 is undone on the attention output.
  LayerHooks base;
  CompensatedHooks qk(Point::kQueryKey, none, {}, {}), v(Point::kValueCache, none, {}, {});
  const at::Tensor expected = f.forward(base);
  EXPECT_LT(test::relative_l2(f.forward(qk), expected), kCompensatedRelTol);
  EXPECT_LT(test::relative_l2(f.forward(v), expected), kCompensatedRelTol);
}

TEST(LayerHooks, DeepseekHookOutputsFeedExactlyTheirConsumers) {
  using S = LinearSite;
  using E = ExpertSite;
  const Fixture moe = deepseek_fixture(true, true);
  for (const CompensationCase& c : {
           CompensationCase{"AttnIn -> q_a, kv_a", Point::kGroup, LinearGroup::kAttnIn, {S::kQA, S::kKVA}, {}},
           CompensationCase{"QbIn -> q_b", Point::kGroup, LinearGroup::kQbIn, {S::kQB}, {}},
           CompensationCase{"OIn -> o", Point::kGroup, LinearGroup::kOIn, {S::kO}, {}},
           // Holds only if the router still sees the unscaled hidden states (sigmoid is not scale invariant).
           CompensationCase{"MoeIn -> routed and shared gate/up", Point::kGroup, LinearGroup::kMoeIn,
                            {S::kSharedGate, S::kSharedUp}, {E::kGate, E::kUp}},
           CompensationCase{"SharedDownIn -> shared down", Point::kGroup, LinearGroup::kSharedDownIn,
                            {S::kSharedDown}, {}},
           CompensationCase{"routed down group -> routed down", Point::kRoutedDown, LinearGroup::kAttnIn, {},
                            {E::kDown}},
       }) {
    expect_compensated(moe, c);
  }
  const Fixture dense = deepseek_fixture(false, false);
  for (const CompensationCase& c : {
           CompensationCase{"AttnIn -> q, kv_a", Point::kGroup, LinearGroup::kAttnIn, {S::kQ, S::kKVA}, {}},
           CompensationCase{"MlpIn -> gate, up", Point::kGroup, LinearGroup::kMlpIn, {S::kGate, S::kUp}, {}},
           CompensationCase{"DownIn -> down", Point::kGroup, LinearGroup::kDownIn, {S::kDown}, {}},
       }) {
    expect_compensated(dense, c);
  }
}

}  // namespace
}  // namespace fq::model
