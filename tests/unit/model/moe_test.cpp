#include <algorithm>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/error.h"
#include "lib/model/moe_experts.h"
#include "lib/model/moe_router.h"
#include "tests/support/random_layers.h"
#include "tests/unit/model/reference_forward.h"

namespace fq::model {
namespace {

constexpr double kRouterWeightTol = 1e-6;   // float32 sigmoid scores vs float64
constexpr double kExpertsF32RelTol = 1e-5;  // grouped float32 experts vs per-token float64 loop
constexpr double kGradF32RelTol = 1e-4;

struct RouterCase {
  io::ModelConfig config;
  MoeWeights weights;
  at::Tensor x;  // [tokens, hidden]
};

RouterCase router_case(uint64_t seed, int64_t tokens, double bias_scale) {
  RouterCase rc{test::small_deepseek_config(true), {}, {}};
  rc.weights = *test::random_deepseek_layer(rc.config, true, seed, at::kFloat).moe;
  rc.weights.score_bias = rc.weights.score_bias * bias_scale;
  at::manual_seed(seed + 1);
  rc.x = at::randn({tokens, rc.config.hidden_size});
  return rc;
}

// Expert ids of token t as an ascending list, with the weights in that order.
std::pair<std::vector<int64_t>, std::vector<double>> token_choice(const Routing& r, int64_t t) {
  std::vector<std::pair<int64_t, double>> pairs;
  for (int64_t j = 0; j < r.experts.size(1); ++j) {
    pairs.push_back({r.experts[t][j].item<int64_t>(), r.weights[t][j].item<double>()});
  }
  std::sort(pairs.begin(), pairs.end());
  std::pair<std::vector<int64_t>, std::vector<double>> out;
  for (auto& [e, w] : pairs) out.first.push_back(e), out.second.push_back(w);
  return out;
}

void expect_routing_matches_reference(const RouterCase& rc) {
  const Routing r = route_tokens(rc.x, rc.weights.router, rc.weights.score_bias, rc.config);
  ASSERT_EQ(r.experts.sizes(), (std::vector<int64_t>{rc.x.size(0), rc.config.num_experts_per_tok}));
  EXPECT_EQ(r.weights.scalar_type(), at::kFloat);
  const test::RefRouting ref = test::ref_route(rc.x, rc.weights.router, rc.weights.score_bias, rc.config);
  for (int64_t t = 0; t < rc.x.size(0); ++t) {
    const auto [experts, weights] = token_choice(r, t);
    ASSERT_EQ(experts, ref.experts[t]) << "token " << t;
    for (size_t j = 0; j < weights.size(); ++j)
      EXPECT_NEAR(weights[j], ref.weights[t][j].item<double>(), kRouterWeightTol);
  }
}

TEST(MoeRouter, MatchesPerTokenFloat64Reference) { expect_routing_matches_reference(router_case(21, 64, 1.0)); }

TEST(MoeRouter, LargeNegativeBiasesLetDroppedGroupsWinAsInReference) {
  // The reference sets the biased scores of dropped groups to 0.0, not -inf. With biases of -2 every kept
  // expert outside group 0 scores below 0.0, so the dropped group's experts are chosen after group 0's.
  // top_k = 4 takes group 0's two experts and both experts of the one dropped group (no ties to break).
  RouterCase rc = router_case(22, 32, 0.0);
  rc.config.topk_group = 3;
  rc.config.num_experts_per_tok = 4;
  rc.weights.score_bias = at::full({rc.config.n_routed_experts}, -2.0f);
  rc.weights.score_bias.narrow(0, 0, 2).fill_(0.5f);
  expect_routing_matches_reference(rc);
  const Routing r = route_tokens(rc.x, rc.weights.router, rc.weights.score_bias, rc.config);
  const at::Tensor biased = at::sigmoid(at::linear(rc.x, rc.weights.router)) + rc.weights.score_bias;
  const at::Tensor worst_group = std::get<0>(biased.view({32, 4, 2}).topk(2, -1)).sum(-1).argmin(-1);
  for (int64_t t = 0; t < 32; ++t) {
    const int64_t g = worst_group[t].item<int64_t>();
    ASSERT_NE(g, 0);
    EXPECT_EQ(token_choice(r, t).first, (std::vector<int64_t>{0, 1, 2 * g, 2 * g + 1})) << "token " << t;
  }
}

TEST(MoeRouter, WeightsAreNormalisedAndScaled) {
  RouterCase rc = router_case(23, 16, 1.0);
  Routing r = route_tokens(rc.x, rc.weights.router, rc.weights.score_bias, rc.config);
  EXPECT_TRUE(at::allclose(r.weights.sum(-1), at::full({16}, 2.5f), 1e-5, 1e-5));
  rc.config.norm_topk_prob = false;
  rc.config.routed_scaling_factor = 1.0;
  r = route_tokens(rc.x, rc.weights.router, rc.weights.score_bias, rc.config);
  EXPECT_TRUE((r.weights > 0).all().item<bool>() && (r.weights < 1).all().item<bool>());  // raw sigmoid scores
  expect_routing_matches_reference(rc);
}

TEST(MoeRouter, RejectsBadGrouping) {
  RouterCase rc = router_case(24, 4, 1.0);
  rc.config.n_group = 3;  // 8 experts do not split into 3 groups
  EXPECT_THROW(route_tokens(rc.x, rc.weights.router, rc.weights.score_bias, rc.config), fq::Error);
  rc.config.n_group = 4;
  rc.config.topk_group = 5;
  EXPECT_THROW(route_tokens(rc.x, rc.weights.router, rc.weights.score_bias, rc.config), fq::Error);
}

TEST(MoeExperts, DispatchSortsSlotsByExpert) {
  Routing r;
  r.experts = at::tensor(std::vector<int64_t>{3, 0, 0, 3, 1, 3}, at::kLong).view({3, 2});
  r.weights = at::arange(6, at::kFloat).view({3, 2});
  const ExpertDispatch d = dispatch_by_expert(r, 4);
  EXPECT_EQ(d.counts, (std::vector<int64_t>{2, 1, 0, 3}));
  EXPECT_EQ(std::vector<int64_t>(d.offsets.data_ptr<int64_t>(), d.offsets.data_ptr<int64_t>() + 5),
            (std::vector<int64_t>{0, 2, 3, 3, 6}));
  // Slots (token, choice) sorted by expert, tokens ascending within an expert.
  const std::vector<int64_t> tokens(d.slot_token.data_ptr<int64_t>(), d.slot_token.data_ptr<int64_t>() + 6);
  EXPECT_EQ(tokens, (std::vector<int64_t>{0, 1, 2, 0, 1, 2}));
  const std::vector<float> weights(d.slot_weight.data_ptr<float>(), d.slot_weight.data_ptr<float>() + 6);
  EXPECT_EQ(weights, (std::vector<float>{1, 2, 4, 0, 3, 5}));
}

TEST(MoeExperts, GroupedMatchesPerTokenLoop) {
  const RouterCase rc = router_case(25, 48, 1.0);
  const Routing r = route_tokens(rc.x, rc.weights.router, rc.weights.score_bias, rc.config);
  const test::RefRouting ref = test::ref_route(rc.x, rc.weights.router, rc.weights.score_bias, rc.config);
  LayerHooks hooks;
  const at::Tensor out = routed_experts(rc.x, r, rc.weights, hooks);
  EXPECT_LT(test::relative_l2(out, test::ref_routed_experts(rc.x, ref, rc.weights)), kExpertsF32RelTol);
}

TEST(MoeExperts, GradientsMatchPerTokenLoop) {
  // Gradients reach the stacked weights through grouped GEMMs and x through both the experts and the
  // routing weights (as in the reference, where only the selection is discrete).
  RouterCase rc = router_case(26, 24, 1.0);
  MoeWeights w = rc.weights, w64 = rc.weights;
  w.gate = w.gate.clone().requires_grad_(true);
  w.down = w.down.clone().requires_grad_(true);
  w64.gate = rc.weights.gate.to(at::kDouble).requires_grad_(true);
  w64.down = rc.weights.down.to(at::kDouble).requires_grad_(true);
  at::Tensor x = rc.x.clone().requires_grad_(true), x64 = rc.x.to(at::kDouble).requires_grad_(true);
  LayerHooks hooks;
  const Routing r = route_tokens(x, rc.weights.router, rc.weights.score_bias, rc.config);
  routed_experts(x, r, w, hooks).pow(2).sum().backward();
  const test::RefRouting ref = test::ref_route(x64, rc.weights.router, rc.weights.score_bias, rc.config);
  test::ref_routed_experts(x64, ref, w64).pow(2).sum().backward();
  EXPECT_LT(test::relative_l2(x.grad(), x64.grad()), kGradF32RelTol);
  EXPECT_LT(test::relative_l2(w.gate.grad(), w64.gate.grad()), kGradF32RelTol);
  EXPECT_LT(test::relative_l2(w.down.grad(), w64.down.grad()), kGradF32RelTol);
}

TEST(MoeExperts, ExpertsWithoutTokensAreSkipped) {
  RouterCase rc = router_case(27, 2, 1.0);  // 2 tokens x 3 experts: most of the 8 experts get nothing
  const Routing r = route_tokens(rc.x, rc.weights.router, rc.weights.score_bias, rc.config);
  const ExpertDispatch d = dispatch_by_expert(r, rc.config.n_routed_experts);
  EXPECT_GT(std::count(d.counts.begin(), d.counts.end(), 0), 0);
  LayerHooks hooks;
  const test::RefRouting ref = test::ref_route(rc.x, rc.weights.router, rc.weights.score_bias, rc.config);
  EXPECT_LT(
      test::relative_l2(routed_experts(rc.x, r, rc.weights, hooks), test::ref_routed_experts(rc.x, ref, rc.weights)),
      kExpertsF32RelTol);
}

}  // namespace
}  // namespace fq::model
