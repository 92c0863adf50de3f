// The ATen transform reference against x @ kron(L, R) built explicitly in float64.
#include "kernels/cpu/kron_transform_cpu.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/error.h"
#include "tests/support/kernel_inputs.h"

namespace fq::kernels {
namespace {

// Relative Frobenius error of a float32 transform (sums of up to 224 products) against float64.
constexpr double kFloat32RelTol = 2e-6;
// With bf16 operands and intermediate: a few bf16 roundings (2^-9 relative each).
constexpr double kBf16RelTol = 1.5e-2;

double rel_error(const at::Tensor& got, const at::Tensor& ref) {
  return ((got.to(at::kDouble) - ref).norm() / ref.norm()).item<double>();
}

at::Tensor explicit_kron(const at::Tensor& x, const KronTransform& t, int64_t n1, int64_t n2) {
  at::Tensor xd = x.to(at::kDouble);
  if (t.diag.defined()) xd = xd * t.diag.to(at::kDouble);
  const at::Tensor l = t.left.defined() ? t.left.to(at::kDouble) : at::eye(n1, at::kDouble);
  const at::Tensor r = t.right.defined() ? t.right.to(at::kDouble) : at::eye(n2, at::kDouble);
  return at::matmul(xd, at::kron(l, r));
}

TEST(KronTransformRef, Float32MatchesExplicitKronecker) {
  const struct {
    int64_t n1, n2;
  } sizes[] = {{8, 16}, {16, 16}, {24, 32}, {32, 48}, {64, 128}};
  uint64_t seed = 100;
  for (const auto& s : sizes) {
    const int64_t n = s.n1 * s.n2;
    KronTransform t;
    t.left = fq::test::random_factor(s.n1, ++seed);
    t.right = fq::test::random_factor(s.n2, ++seed);
    t.diag = at::rand({n}, at::kFloat) + 0.5;
    const at::Tensor x = fq::test::activations_with_outliers(5, n, ++seed);
    const at::Tensor y = kron_transform_ref(x, t, TransformPrecision::kFloat32);
    ASSERT_EQ(y.sizes(), x.sizes());
    EXPECT_EQ(y.scalar_type(), at::kFloat);
    EXPECT_LT(rel_error(y, explicit_kron(x, t, s.n1, s.n2)), kFloat32RelTol) << s.n1 << "x" << s.n2;
  }
}

TEST(KronTransformRef, MissingFactorsAreIdentities) {
  const at::Tensor x = fq::test::activations_with_outliers(3, 64 * 16, 7);
  KronTransform left_only;
  left_only.left = fq::test::random_factor(64, 8);
  EXPECT_LT(rel_error(kron_transform_ref(x, left_only, TransformPrecision::kFloat32),
                      explicit_kron(x, left_only, 64, 16)),
            kFloat32RelTol);
  KronTransform right_only;
  right_only.right = fq::test::random_factor(128, 9);
  EXPECT_LT(rel_error(kron_transform_ref(x, right_only, TransformPrecision::kFloat32),
                      explicit_kron(x, right_only, 8, 128)),
            kFloat32RelTol);
}

TEST(KronTransformRef, Bf16PrecisionIsTheFloat64ProductOfRoundedOperands) {
  const int64_t n1 = 32, n2 = 64;
  KronTransform t;
  t.left = fq::test::random_factor(n1, 21);
  t.right = fq::test::random_factor(n2, 22);
  const at::Tensor x = fq::test::activations_with_outliers(4, n1 * n2, 23).to(at::kBFloat16);
  const at::Tensor y = kron_transform_ref(x, t, TransformPrecision::kBf16);
  // Emulation in float64: bf16 operands, bf16 intermediate.
  auto bf = [](const at::Tensor& v) { return v.to(at::kBFloat16).to(at::kDouble); };
  const at::Tensor z = at::matmul(bf(t.left).t(), x.to(at::kDouble).reshape({4, n1, n2}));
  const at::Tensor ref = at::matmul(bf(z), bf(t.right)).reshape({4, n1 * n2});
  EXPECT_LT(rel_error(y, ref), 1e-6);
  // And it stays close to the exact transform.
  EXPECT_LT(rel_error(y, explicit_kron(x.to(at::kFloat), t, n1, n2)), kBf16RelTol);
}

TEST(KronTransformRef, RejectsMismatchedFactors) {
  KronTransform t;
  t.left = fq::test::random_factor(8, 1);
  t.right = fq::test::random_factor(16, 2);
  try {
    kron_transform_ref(at::ones({2, 100}, at::kFloat), t, TransformPrecision::kFloat32);
    FAIL() << "expected an error";
  } catch (const fq::Error& e) {
    EXPECT_NE(std::string(e.what()).find("row length 100"), std::string::npos) << e.what();
  }
  t.right = at::ones({16, 15}, at::kFloat);
  try {
    kron_transform_ref(at::ones({2, 128}, at::kFloat), t, TransformPrecision::kFloat32);
    FAIL() << "expected an error";
  } catch (const fq::Error& e) {
    EXPECT_NE(std::string(e.what()).find("right (R)"), std::string::npos) << e.what();
  }
  t.right = fq::test::random_factor(16, 2).to(at::kDouble);
  EXPECT_THROW(kron_transform_ref(at::ones({2, 128}, at::kFloat), t, TransformPrecision::kFloat32), fq::Error);
}

}  // namespace
}  // namespace fq::kernels
