// The device-dispatching quantization entry points on CPU tensors.
#include "kernels/quant_ops.h"

#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "kernels/cpu/kron_transform_cpu.h"
#include "kernels/cpu/per_token_quant_cpu.h"
#include "kernels/int4_pack.h"
#include "lib/core/error.h"
#include "tests/support/kernel_inputs.h"

namespace fq::kernels {
namespace {

TEST(QuantOpsCpu, QuantizeRowsPacksTheReferenceCodes) {
  const at::Tensor x = fq::test::activations_with_outliers(12, 64, 31).reshape({3, 4, 64});
  for (bool symmetric : {true, false}) {
    TokenQuantConfig cfg;
    cfg.symmetric = symmetric;
    cfg.clip_max = 0.9f;
    const PackedInt4Rows q = quantize_rows_int4(x, cfg);
    const QuantizedCodes ref = quantize_rows_cpu(x.reshape({12, 64}), cfg);
    EXPECT_TRUE(at::equal(q.packed, pack_int4(ref.codes, symmetric)));
    EXPECT_TRUE(at::equal(q.scale, ref.scale));
    EXPECT_EQ(q.zero.defined(), !symmetric);
    EXPECT_EQ(q.cols, 64);
    const at::Tensor back = dequantize_rows_int4(q, at::kFloat);
    EXPECT_TRUE(at::equal(back, dequantize_rows_cpu(ref.codes, ref.scale, ref.zero)));
  }
}

// A random 16 x 32 Kronecker transform (rows of 512).
KronTransform transform_16x32(uint64_t seed) {
  KronTransform t;
  t.left = fq::test::random_factor(16, seed);
  t.right = fq::test::random_factor(32, seed + 1);
  return t;
}

TEST(QuantOpsCpu, TransformQuantizeIsTransformThenQuantize) {
  const KronTransform t = transform_16x32(41);
  const at::Tensor x = fq::test::activations_with_outliers(7, 512, 43).to(at::kBFloat16);
  for (TransformPrecision p : {TransformPrecision::kFloat32, TransformPrecision::kBf16}) {
    const PackedInt4Rows q = kron_transform_quantize(x, t, TokenQuantConfig{}, p);
    const PackedInt4Rows ref = quantize_rows_int4(kron_transform_ref(x, t, p), TokenQuantConfig{});
    EXPECT_TRUE(at::equal(q.packed, ref.packed));
    EXPECT_TRUE(at::equal(q.scale, ref.scale));
  }
}

TEST(QuantOpsCpu, ANamedFusedKernelThatCannotRunIsAnError) {
  const KronTransform t = transform_16x32(44);
  const at::Tensor x = fq::test::activations_with_outliers(3, 512, 46).to(at::kBFloat16);
  for (FusedKernel kernel : {FusedKernel::kMmaSync, FusedKernel::kWgmma}) {
    try {
      kron_transform_quantize(x, t, TokenQuantConfig{}, TransformPrecision::kBf16, kernel);
      ADD_FAILURE() << "a fused CUDA kernel ran on a CPU tensor";
    } catch (const fq::Error& e) {
      EXPECT_NE(std::string(e.what()).find("kron_transform_quantize"), std::string::npos) << e.what();
    }
  }
  // kAuto takes the reference path instead.
  EXPECT_NO_THROW(kron_transform_quantize(x, t, TokenQuantConfig{}, TransformPrecision::kBf16, FusedKernel::kAuto));
}

TEST(QuantOpsCpu, KvCacheRoundTripStaysWithinHalfAStep) {
  const at::Tensor kv = fq::test::activations_with_outliers(6 * 8, 128, 51).reshape({6, 8, 128});
  const PackedInt4Rows q = kv_cache_quantize(kv);
  EXPECT_FALSE(q.symmetric);
  EXPECT_EQ(q.rows(), 48);
  const at::Tensor back = kv_cache_dequantize(q, kv.sizes(), at::kFloat);
  ASSERT_EQ(back.sizes(), kv.sizes());
  const at::Tensor step = q.scale.reshape({6, 8, 1});
  EXPECT_LE(((back - kv).abs() / step).max().item<float>(), 0.5f + 1e-4f);
  EXPECT_THROW(kv_cache_dequantize(q, {6, 4, 128}, at::kFloat), fq::Error);
}

TEST(QuantOpsCpu, RejectsWhatCannotBePacked) {
  TokenQuantConfig three_bits;
  three_bits.bits = 3;
  EXPECT_THROW(quantize_rows_int4(at::ones({2, 8}, at::kFloat), three_bits), fq::Error);
  EXPECT_THROW(quantize_rows_int4(at::ones({2, 8}, at::kInt), TokenQuantConfig{}), fq::Error);
  EXPECT_THROW(quantize_rows_int4(at::ones({2, 7}, at::kFloat), TokenQuantConfig{}), fq::Error);
}

}  // namespace
}  // namespace fq::kernels
