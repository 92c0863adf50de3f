// The fused (chunked, recomputing) routed-expert projection against plain autograd through the same
// weight path: outputs and every gradient equal in float64.
#include "lib/flat/fused_expert_linear.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/model/layer_hooks.h"
#include "lib/quant/orthogonal.h"

namespace fq::flat {
namespace {

constexpr double kTol = 1e-10;  // relative, float64: the two paths differ only in summation order

at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }

double rel(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).norm().item<double>() / std::max(1e-30, b.norm().item<double>());
}

struct Case {
  bool per_expert_transform;
  bool clip;
  int64_t chunk;
};

class FusedExpertLinearTest : public ::testing::TestWithParam<Case> {};

TEST_P(FusedExpertLinearTest, MatchesUnfusedAutograd) {
  const Case c = GetParam();
  at::Generator gen = at::detail::createCPUGenerator(99);
  const int64_t experts = 5, out = 6, n1 = 2, n2 = 4, in = n1 * n2;
  const std::vector<int64_t> counts{3, 0, 4, 1, 2};
  at::Tensor x = at::randn({10, in}, gen, f64()).requires_grad_(true);
  at::Tensor w = at::randn({experts, out, in}, gen, f64());
  ExpertWeightTransform t;
  t.spec = {4, true, 0};
  const int64_t stack = c.per_expert_transform ? experts : 0;
  auto matrix = [&](int64_t n) {
    if (stack == 0) return (quant::random_orthogonal(n, gen) + 0.1 * at::randn({n, n}, gen, f64())).requires_grad_(true);
    std::vector<at::Tensor> m;
    for (int64_t e = 0; e < stack; ++e) m.push_back(quant::random_orthogonal(n, gen) + 0.1 * at::randn({n, n}, gen, f64()));
    return at::stack(m).requires_grad_(true);
  };
  t.left_inv_t = matrix(n1);
  t.right_inv_t = matrix(n2);
  t.diag = (at::rand(stack ? std::vector<int64_t>{stack, in} : std::vector<int64_t>{in}, gen, f64()) + 0.5)
               .requires_grad_(true);
  if (c.clip) {
    t.clip_max_logit = at::randn({experts, out, 1}, gen, f64()).requires_grad_(true);
    t.clip_min_logit = at::randn({experts, out, 1}, gen, f64()).requires_grad_(true);
  }
  at::Tensor probe = at::randn({10, out}, gen, f64());
  std::vector<at::Tensor> inputs{x, t.left_inv_t, t.right_inv_t, t.diag};
  if (c.clip) inputs.insert(inputs.end(), {t.clip_max_logit, t.clip_min_logit});

  at::Tensor y_fused = fused_expert_linear(x, counts, w, t, c.chunk);
  auto g_fused = torch::autograd::grad({(y_fused * probe).sum()}, inputs);
  at::Tensor y_ref = model::grouped_linear(x, counts, transform_expert_weights(w, 0, t));
  auto g_ref = torch::autograd::grad({(y_ref * probe).sum()}, inputs);

  EXPECT_LT(rel(y_fused, y_ref), kTol);
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_GT(g_ref[i].abs().sum().item<double>(), 0) << "input " << i << " got no gradient";
    EXPECT_LT(rel(g_fused[i], g_ref[i]), kTol) << "gradient of input " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, FusedExpertLinearTest,
                         ::testing::Values(Case{false, true, 1}, Case{false, true, 2}, Case{true, true, 2},
                                           Case{true, false, 5}, Case{false, false, 3}));

}  // namespace
}  // namespace fq::flat
