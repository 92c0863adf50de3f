// Exactness of the transform pair: (x * d) P against (W / d) P^{-T} reproduces x W^T (float64, 1e-10).
#include "lib/quant/affine_transform.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/quant/transform_folding.h"

namespace fq::quant {
namespace {

constexpr double kExactTol = 1e-10;  // relative, float64

double rel_err(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).norm().item<double>() / b.norm().item<double>();
}

at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }

struct Case {
  int64_t n1, n2;
  TransformParam param;
  bool diag;
};

class TransformEquivalence : public ::testing::TestWithParam<Case> {};

TEST_P(TransformEquivalence, ActivationAndWeightSidesCancel) {
  const Case c = GetParam();
  at::Generator gen = at::detail::createCPUGenerator(1234);
  AffineTransform t = AffineTransform::kronecker(c.n1, c.n2, c.param, c.diag, gen, f64());
  if (c.diag) {
    at::NoGradGuard ng;
    t.diag_parameters()[0].copy_(at::rand({c.n1 * c.n2}, gen, f64()) * 3 + 0.1);
  }
  // Perturb s away from 1 so that the inverse-transpose path is exercised.
  {
    at::NoGradGuard ng;
    for (auto& [name, p] : t.named_parameters()) {
      if (name.size() > 2 && name.substr(name.size() - 2) == ".s") p.copy_(at::rand(p.sizes(), gen, f64()) + 0.5);
    }
  }
  const int64_t n = c.n1 * c.n2;
  at::Tensor x = at::randn({7, 5, n}, gen, f64());
  at::Tensor w = at::randn({11, n}, gen, f64());
  at::NoGradGuard ng;
  TransformMatrices m = t.matrices();
  at::Tensor ref = at::matmul(x, w.t());
  at::Tensor got = at::matmul(m.apply(x), m.apply_inverse_transpose(w).t());
  EXPECT_LT(rel_err(got, ref), kExactTol) << "n1=" << c.n1 << " n2=" << c.n2;
  // The Kronecker application equals x @ kron(L, R) (and the frozen float64 copy agrees).
  at::Tensor x_scaled = c.diag ? x * m.diag : x;
  EXPECT_LT(rel_err(m.apply(x), at::matmul(x_scaled, m.dense(false))), kExactTol);
  TransformMatrices frozen = t.freeze();
  EXPECT_LT(rel_err(at::matmul(frozen.apply(x), fold_weight(w, frozen).t()), ref), kExactTol);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, TransformEquivalence,
    ::testing::Values(Case{4, 4, TransformParam::kOrthogonal, false}, Case{4, 4, TransformParam::kOrthogonal, true},
                      Case{3, 8, TransformParam::kOrthogonal, true}, Case{8, 3, TransformParam::kOrthogonal, false},
                      Case{16, 16, TransformParam::kDirectInverse, false},
                      Case{5, 12, TransformParam::kDirectInverse, true}, Case{24, 32, TransformParam::kOrthogonal, true}));

TEST(SingleTransform, PerHeadApplicationCancels) {
  at::Generator gen = at::detail::createCPUGenerator(7);
  for (auto param : {TransformParam::kOrthogonal, TransformParam::kDirectInverse}) {
    AffineTransform t = AffineTransform::single(8, param, gen, f64());
    at::NoGradGuard ng;
    TransformMatrices m = t.matrices();
    at::Tensor x = at::randn({6, 4 * 8}, gen, f64());  // 4 heads of 8
    at::Tensor w = at::randn({9, 4 * 8}, gen, f64());
    at::Tensor got = at::matmul(m.apply(x), m.apply_inverse_transpose(w).t());
    EXPECT_LT(rel_err(got, at::matmul(x, w.t())), kExactTol);
  }
}

TEST(OutputTransform, FoldedRowsMultiplyTheOutputPerHead) {
  at::Generator gen = at::detail::createCPUGenerator(8);
  at::Tensor m = at::randn({4, 4}, gen, f64());
  at::Tensor w = at::randn({3 * 4, 10}, gen, f64());  // 3 heads of 4 outputs
  at::Tensor x = at::randn({5, 10}, gen, f64());
  at::Tensor y = at::matmul(x, w.t()).reshape({5, 3, 4});
  at::Tensor expected = at::matmul(y, m).reshape({5, 12});
  EXPECT_LT(rel_err(at::matmul(x, fold_output_transform(w, m).t()), expected), kExactTol);
}

}  // namespace
}  // namespace fq::quant
