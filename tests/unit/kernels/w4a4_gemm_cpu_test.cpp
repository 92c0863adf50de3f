// The exact W4A4 GEMM reference against naive integer loops and the float32 epilogue written out.
#include "kernels/cpu/w4a4_gemm_cpu.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "kernels/int4_pack.h"
#include "kernels/w4a4_gemm_ops.h"
#include "lib/core/error.h"
#include "tests/support/kernel_inputs.h"

namespace fq::kernels {
namespace {

PackedInt4Rows make_rows(const at::Tensor& codes, bool symmetric, uint64_t seed) {
  PackedInt4Rows a;
  a.packed = pack_int4(codes, symmetric);
  a.scale = at::rand({codes.size(0)}, at::kFloat) * 0.1 + 0.01;
  if (!symmetric) a.zero = fq::test::random_codes({codes.size(0)}, 0, 15, seed).to(at::kFloat);
  a.cols = codes.size(1);
  a.symmetric = symmetric;
  return a;
}

// sum_k (qa - za) * qb with plain int64 loops.
int64_t naive_dot(const at::Tensor& qa, const at::Tensor& qb, int64_t m, int64_t n, int64_t za) {
  int64_t acc = 0;
  for (int64_t k = 0; k < qa.size(1); ++k) acc += (qa[m][k].item<int64_t>() - za) * qb[n][k].item<int64_t>();
  return acc;
}

TEST(W4A4GemmCpu, AccumulatorsEqualNaiveIntegerLoops) {
  for (bool symmetric : {true, false}) {
    const at::Tensor qa = symmetric ? fq::test::random_codes({5, 96}, -8, 7, 1) : fq::test::random_codes({5, 96}, 0, 15, 1);
    const at::Tensor qb = fq::test::random_codes({6, 96}, -8, 7, 2);
    const PackedInt4Rows a = make_rows(qa, symmetric, 3);
    const Int4Weight w = make_int4_weight(qb, at::rand({6}, at::kFloat));
    const at::Tensor acc = w4a4_accumulators_cpu(a, w, at::Tensor());
    ASSERT_EQ(acc.scalar_type(), at::kLong);
    for (int64_t m = 0; m < 5; ++m) {
      const int64_t za = symmetric ? 0 : a.zero[m].item<int64_t>();
      for (int64_t n = 0; n < 6; ++n) EXPECT_EQ(acc[m][n].item<int64_t>(), naive_dot(qa, qb, m, n, za));
    }
    EXPECT_TRUE(at::equal(w.rowsum, qb.to(at::kInt).sum(1, false, at::kInt)));
  }
}

TEST(W4A4GemmCpu, EpilogueIsAccTimesScalesPlusBiasInFloat32) {
  const at::Tensor qa = fq::test::random_codes({4, 64}, -8, 7, 5);
  const at::Tensor qb = fq::test::random_codes({8, 64}, -8, 7, 6);
  const PackedInt4Rows a = make_rows(qa, true, 7);
  const Int4Weight w = make_int4_weight(qb, at::rand({8}, at::kFloat));
  const at::Tensor bias = at::randn({8}, at::kFloat);
  const at::Tensor y = w4a4_gemm_cpu(a, w, bias, at::Tensor());
  ASSERT_EQ(y.scalar_type(), at::kBFloat16);
  const at::Tensor acc = w4a4_accumulators_cpu(a, w, at::Tensor());
  for (int64_t m = 0; m < 4; ++m) {
    for (int64_t n = 0; n < 8; ++n) {
      float v = static_cast<float>(acc[m][n].item<int64_t>());
      v = v * a.scale[m].item<float>();
      v = v * w.scale[n].item<float>();
      v = v + bias[n].item<float>();
      EXPECT_EQ(y[m][n].item<at::BFloat16>().x, c10::BFloat16(v).x) << m << "," << n;
    }
  }
  // Through the device-dispatching entry point, the same.
  EXPECT_TRUE(at::equal(w4a4_gemm(a, w, bias), y));
}

TEST(W4A4GemmCpu, GroupedEqualsOneDenseGemmPerExpert) {
  const int64_t experts = 4, k = 64, n = 16;
  const at::Tensor offsets = at::tensor({0, 3, 3, 10, 11}, at::kLong);  // expert 1 has no rows
  const at::Tensor qa = fq::test::random_codes({11, k}, 0, 15, 8);
  const at::Tensor qb = fq::test::random_codes({experts, n, k}, -8, 7, 9);
  const PackedInt4Rows a = make_rows(qa, false, 10);
  const Int4Weight w = make_int4_weight(qb, at::rand({experts, n}, at::kFloat));
  const at::Tensor y = w4a4_gemm_cpu(a, w, at::Tensor(), offsets);
  for (int64_t e = 0; e < experts; ++e) {
    const int64_t b = offsets[e].item<int64_t>(), t = offsets[e + 1].item<int64_t>();
    if (b == t) continue;
    PackedInt4Rows part;
    part.packed = a.packed.slice(0, b, t);
    part.scale = a.scale.slice(0, b, t);
    part.zero = a.zero.slice(0, b, t);
    part.cols = k;
    part.symmetric = false;
    const Int4Weight we = make_int4_weight(qb[e], w.scale[e].contiguous());
    EXPECT_TRUE(at::equal(y.slice(0, b, t), w4a4_gemm_cpu(part, we, at::Tensor(), at::Tensor()))) << "expert " << e;
  }
}

TEST(W4A4GemmCpu, RejectsInconsistentOperands) {
  const PackedInt4Rows a = make_rows(fq::test::random_codes({2, 64}, -8, 7, 1), true, 1);
  const Int4Weight w = make_int4_weight(fq::test::random_codes({8, 32}, -8, 7, 2), at::rand({8}, at::kFloat));
  try {
    w4a4_gemm_cpu(a, w, at::Tensor(), at::Tensor());
    FAIL() << "expected an error";
  } catch (const fq::Error& e) {
    EXPECT_NE(std::string(e.what()).find("in_features 32"), std::string::npos) << e.what();
  }
  const Int4Weight stacked =
      make_int4_weight(fq::test::random_codes({2, 8, 64}, -8, 7, 3), at::rand({2, 8}, at::kFloat));
  EXPECT_THROW(w4a4_gemm_cpu(a, stacked, at::Tensor(), at::Tensor()), fq::Error);  // offsets missing
  try {
    w4a4_gemm_cpu(a, stacked, at::Tensor(), at::tensor({0, 2, 1}, at::kLong));
    FAIL() << "expected an error";
  } catch (const fq::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expert_offsets"), std::string::npos) << e.what();
  }
  PackedInt4Rows bad = a;
  bad.scale = at::ones({3}, at::kFloat);
  try {
    w4a4_gemm_cpu(bad, w, at::Tensor(), at::Tensor());
    FAIL() << "expected an error";
  } catch (const fq::Error& e) {
    EXPECT_NE(std::string(e.what()).find("a.scale"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace fq::kernels
