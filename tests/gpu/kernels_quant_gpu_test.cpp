// CUDA quantization kernels against their CPU references (the source of truth): exact where the math is
// exact (quantization of the same rows, dequantization), bounded where float32 sums run in another order
// (the transforms).
#include <cmath>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "kernels/cuda/sm90_primitives.cuh"
#include "kernels/int4_pack.h"
#include "kernels/quant_ops.h"
#include "tests/support/cuda_required.h"
#include "tests/support/kernel_inputs.h"

namespace fq::kernels {
namespace {

// Transforms: the fused kernel and cuBLAS sum in another order than the CPU; a code may then move by one
// step where the quotient sits at a rounding boundary. Bounds on the fraction of such codes:
constexpr double kFusedCodeMismatchFraction = 1e-3;    // bf16 intermediate may also round the other way
constexpr double kFloat32CodeMismatchFraction = 1e-4;  // float32 summation order only
constexpr double kFloat32ScaleRelTol = 1e-5;  // per-token scales (max of the transformed row), float32 path
// With bf16 intermediates the row maximum may move by about one bf16 step of its largest term (2^-8) when
// that term's rounding flips; outlier channels make single terms dominate (seen: 1.2e-3 on 300 rows).
constexpr double kFusedScaleRelTol = 4e-3;
// The bf16 products of the fused kernel add little to the 4-bit quantization error itself.
constexpr double kBf16ErrorGrowth = 1.05;

std::string describe(const TokenQuantConfig& cfg) {
  return std::string(cfg.symmetric ? "sym" : "asym") + " clip " + std::to_string(cfg.clip_max) + "/" +
         std::to_string(cfg.clip_min);
}

void expect_identical(const PackedInt4Rows& gpu, const PackedInt4Rows& cpu, const std::string& what) {
  EXPECT_TRUE(at::equal(gpu.packed.cpu(), cpu.packed)) << what << ": packed bytes differ";
  EXPECT_TRUE(at::equal(gpu.scale.cpu(), cpu.scale)) << what << ": scales differ";
  ASSERT_EQ(gpu.zero.defined(), cpu.zero.defined()) << what;
  if (cpu.zero.defined()) {
    EXPECT_TRUE(at::equal(gpu.zero.cpu(), cpu.zero)) << what << ": zero points differ";
  }
}

// Codes may differ by one step on a bounded fraction of elements; dequantized values by at most one step.
void expect_close(const PackedInt4Rows& gpu_any, const PackedInt4Rows& cpu, double max_mismatch,
                  double scale_tol, const std::string& what) {
  PackedInt4Rows gpu = gpu_any;
  gpu.packed = gpu.packed.cpu();
  gpu.scale = gpu.scale.cpu();
  if (gpu.zero.defined()) gpu.zero = gpu.zero.cpu();
  const double scale_err = ((gpu.scale - cpu.scale).abs() / cpu.scale).max().item<double>();
  EXPECT_LE(scale_err, scale_tol) << what << ": largest relative scale difference";
  const at::Tensor deq_gpu = dequantize_rows_int4(gpu, at::kDouble);
  const at::Tensor deq_cpu = dequantize_rows_int4(cpu, at::kDouble);
  const double steps = ((deq_gpu - deq_cpu).abs() / cpu.scale.to(at::kDouble).unsqueeze(1)).max().item<double>();
  EXPECT_LE(steps, 1.0 + 1e-3) << what << ": a dequantized value moved by more than one step";
  const at::Tensor codes_gpu = unpack_int4(gpu.packed, gpu.symmetric);
  const at::Tensor codes_cpu = unpack_int4(cpu.packed, cpu.symmetric);
  const double mismatch = codes_gpu.ne(codes_cpu).to(at::kDouble).mean().item<double>();
  EXPECT_LE(mismatch, max_mismatch) << what << ": fraction of codes that differ";
}

TEST(QuantizeRowsGpu, MatchesCpuBitForBit) {
  FQ_REQUIRE_CUDA();
  uint64_t seed = 1000;
  for (int64_t n : {128, 256, 768, 8192, 28672}) {
    for (int64_t rows : {1, 5, 333}) {
      at::Tensor x = fq::test::activations_with_outliers(rows, n, ++seed);
      if (rows > 1) x[1].zero_();  // an all-zero row
      for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
        const at::Tensor xt = x.to(dtype);
        for (int variant = 0; variant < 3; ++variant) {
          TokenQuantConfig cfg;
          cfg.symmetric = variant != 1;
          if (variant == 2) cfg.clip_max = 0.7f, cfg.clip_min = 0.9f;
          const std::string what = "n=" + std::to_string(n) + " rows=" + std::to_string(rows) + " " +
                                   std::string(c10::toString(dtype)) + " " + describe(cfg);
          const PackedInt4Rows gpu = quantize_rows_int4(xt.to(at::kCUDA), cfg);
          expect_identical(gpu, quantize_rows_int4(xt, cfg), what);
          for (at::ScalarType out : {at::kFloat, at::kBFloat16}) {
            EXPECT_TRUE(at::equal(dequantize_rows_int4(gpu, out).cpu(),
                                  dequantize_rows_int4(quantize_rows_int4(xt, cfg), out)))
                << what << ": dequantized " << c10::toString(out);
          }
        }
      }
    }
  }
}

TEST(KvCacheGpu, QuantizeAndDequantizeMatchCpuBitForBit) {
  FQ_REQUIRE_CUDA();
  const at::Tensor kv = fq::test::activations_with_outliers(7 * 8, 128, 77).reshape({7, 8, 128}).to(at::kBFloat16);
  const PackedInt4Rows gpu = kv_cache_quantize(kv.to(at::kCUDA));
  const PackedInt4Rows cpu = kv_cache_quantize(kv);
  expect_identical(gpu, cpu, "kv cache");
  EXPECT_TRUE(at::equal(kv_cache_dequantize(gpu, kv.sizes(), at::kBFloat16).cpu(),
                        kv_cache_dequantize(cpu, kv.sizes(), at::kBFloat16)));
}

struct KronCase {
  int64_t n1, n2;
  bool has_right;
  bool has_diag;
};

KronTransform make_transform(const KronCase& c, uint64_t seed) {
  KronTransform t;
  t.left = fq::test::random_factor(c.n1, seed);
  if (c.has_right) t.right = fq::test::random_factor(c.n2, seed + 1);
  if (c.has_diag) t.diag = (at::rand({c.n1 * c.n2}, at::kFloat) + 0.5).contiguous();
  return t;
}

KronTransform to_cuda(const KronTransform& t) {
  KronTransform g;
  if (t.left.defined()) g.left = t.left.to(at::kCUDA);
  if (t.right.defined()) g.right = t.right.to(at::kCUDA);
  if (t.diag.defined()) g.diag = t.diag.to(at::kCUDA);
  return g;
}

// Every decompose_dim size of the LLaMA-2/3-70B and DeepSeek V3 linears, tiny ones, a left-only transform
// (o_proj: heads mixed, head_dim untouched) and a diagonal scaling.
const KronCase kKronCases[] = {
    {64, 128, true, false},  {128, 224, true, false}, {64, 112, true, false}, {32, 48, true, false},
    {32, 64, true, false},   {128, 144, true, false}, {128, 128, true, false}, {64, 64, true, false},
    {112, 128, true, false}, {16, 16, true, false},   {24, 32, true, true},    {8, 16, true, false},
    {64, 128, false, false}, {64, 128, true, true},
};

// The fused kernels this device runs: mma.sync everywhere, wgmma on sm_90a.
std::vector<FusedKernel> fused_kernels() {
  std::vector<FusedKernel> k{FusedKernel::kMmaSync};
  if (gpu::wgmma_available()) k.push_back(FusedKernel::kWgmma);
  return k;
}

const char* name(FusedKernel k) { return k == FusedKernel::kWgmma ? "wgmma" : "mma.sync"; }

TEST(KronTransformQuantGpu, FusedKernelsMatchBf16ReferenceOnEveryModelSize) {
  FQ_REQUIRE_CUDA();
  uint64_t seed = 2000;
  int variant = 0;
  for (const KronCase& c : kKronCases) {
    const KronTransform t = make_transform(c, seed += 10);
    const KronTransform tg = to_cuda(t);
    // 2500 rows: every CTA of both kernels loops over several token groups, and every token team of the
    // wgmma kernel cycles through its whole ring of X stages.
    for (int64_t rows : {1, 37, 300, 2500}) {
      at::Tensor x = fq::test::activations_with_outliers(rows, c.n1 * c.n2, ++seed).to(at::kBFloat16);
      if (rows > 2) x[2].zero_();
      TokenQuantConfig cfg;
      cfg.symmetric = (variant % 2) == 0;
      if (variant % 3 == 2) cfg.clip_max = 0.8f, cfg.clip_min = 0.75f;
      ++variant;
      const PackedInt4Rows cpu = kron_transform_quantize(x, t, cfg, TransformPrecision::kBf16);
      for (FusedKernel kernel : fused_kernels()) {
        const std::string what = std::string(name(kernel)) + " " + std::to_string(c.n1) + "x" +
                                 std::to_string(c.n2) + (c.has_right ? "" : " (L only)") +
                                 (c.has_diag ? " +diag" : "") + " rows=" + std::to_string(rows) + " " + describe(cfg);
        const PackedInt4Rows gpu = kron_transform_quantize(x.to(at::kCUDA), tg, cfg, TransformPrecision::kBf16, kernel);
        expect_close(gpu, cpu, kFusedCodeMismatchFraction, kFusedScaleRelTol, what);
      }
    }
  }
}

// kAuto runs wgmma for n1 > 32 on sm_90a (after confirming it once against mma.sync), mma.sync otherwise:
// its output is that kernel's, bit for bit.
TEST(KronTransformQuantGpu, AutoRunsTheDocumentedKernel) {
  FQ_REQUIRE_CUDA();
  for (const KronCase& c : {KronCase{64, 128, true, false}, KronCase{32, 48, true, false}, KronCase{128, 224, true, false}}) {
    const KronTransform tg = to_cuda(make_transform(c, 5000 + c.n1));
    const at::Tensor x = fq::test::activations_with_outliers(700, c.n1 * c.n2, 5001).to(at::kBFloat16).to(at::kCUDA);
    const FusedKernel expected = gpu::wgmma_available() && c.n1 > 32 ? FusedKernel::kWgmma : FusedKernel::kMmaSync;
    const PackedInt4Rows automatic = kron_transform_quantize(x, tg, TokenQuantConfig{}, TransformPrecision::kBf16);
    const PackedInt4Rows chosen = kron_transform_quantize(x, tg, TokenQuantConfig{}, TransformPrecision::kBf16, expected);
    const std::string what = std::to_string(c.n1) + "x" + std::to_string(c.n2) + " auto vs " + name(expected);
    EXPECT_TRUE(at::equal(automatic.packed, chosen.packed)) << what;
    EXPECT_TRUE(at::equal(automatic.scale, chosen.scale)) << what;
  }
}

TEST(KronTransformQuantGpu, Float32PathMatchesFloat32Reference) {
  FQ_REQUIRE_CUDA();
  uint64_t seed = 3000;
  for (const KronCase& c : {KronCase{64, 128, true, true}, KronCase{128, 224, true, false}, KronCase{8, 16, true, false}}) {
    const KronTransform t = make_transform(c, seed += 10);
    const at::Tensor x = fq::test::activations_with_outliers(45, c.n1 * c.n2, ++seed);
    for (bool symmetric : {true, false}) {
      TokenQuantConfig cfg;
      cfg.symmetric = symmetric;
      const PackedInt4Rows gpu =
          kron_transform_quantize(x.to(at::kCUDA), to_cuda(t), cfg, TransformPrecision::kFloat32);
      const PackedInt4Rows cpu = kron_transform_quantize(x, t, cfg, TransformPrecision::kFloat32);
      expect_close(gpu, cpu, kFloat32CodeMismatchFraction, kFloat32ScaleRelTol,
                   std::to_string(c.n1) + "x" + std::to_string(c.n2) + " float32 " + describe(cfg));
    }
  }
}

TEST(KronTransformQuantGpu, Bf16ProductsBarelyAddToQuantizationError) {
  FQ_REQUIRE_CUDA();
  const KronCase c{64, 128, true, false};
  const KronTransform t = make_transform(c, 4000);
  const at::Tensor x = fq::test::activations_with_outliers(256, c.n1 * c.n2, 4001).to(at::kBFloat16);
  // The exact transform in float64 (of the bf16 activations).
  const at::Tensor l = t.left.to(at::kDouble), r = t.right.to(at::kDouble);
  const at::Tensor exact = at::matmul(at::matmul(l.t(), x.to(at::kDouble).reshape({256, c.n1, c.n2})), r)
                               .reshape({256, c.n1 * c.n2});
  auto error = [&](TransformPrecision p, FusedKernel kernel) {
    const PackedInt4Rows q = kron_transform_quantize(x.to(at::kCUDA), to_cuda(t), TokenQuantConfig{}, p, kernel);
    const at::Tensor deq = dequantize_rows_int4(q, at::kFloat).cpu().to(at::kDouble);
    return ((deq - exact).norm() / exact.norm()).item<double>();
  };
  const double float32 = error(TransformPrecision::kFloat32, FusedKernel::kAuto);
  for (FusedKernel kernel : fused_kernels()) {
    const double fused = error(TransformPrecision::kBf16, kernel);
    EXPECT_LE(fused, float32 * kBf16ErrorGrowth)
        << name(kernel) << ": 4-bit error with bf16 products " << fused << " vs float32 " << float32;
  }
}

}  // namespace
}  // namespace fq::kernels
