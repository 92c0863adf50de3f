// Few-shot prefix reuse (lib/model/prefix_kv.h) on CUDA, where the two sides run different attention
// kernels: whole sequences take at::scaled_dot_product_attention (LibTorch >= 2), sequences after a prefix
// the chunked attention over the kept prefix keys/values (the CPU tests, where both take the chunked path,
// check the same to 1e-5: tests/unit/flat/frozen_layer_prefix_test.cpp).
//   - bf16, no quantization: the evaluation's dtype; the two kernels round differently.
//   - float32, frozen FlatQuant layers on the int4 backend (W4A4 GEMM kernels, 4-bit Q/K/V caches): the
//     quantized path. Not in bf16: there a one-ulp difference between the kernels moves activations that
//     sit on a 4-bit rounding boundary by a whole code step, and with random (uncalibrated) transforms one
//     step is a large part of a token's norm: measured 0.23-0.57 on an H100, noise that says nothing about
//     the prefix bookkeeping, which the float32 case checks with the same kernels.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "lib/flat/frozen_layer.h"
#include "lib/model/causal_lm.h"
#include "lib/model/decoder_layer.h"
#include "lib/model/random_layer.h"
#include "lib/model/rope.h"
#include "tests/support/cuda_required.h"
#include "tests/support/random_frozen_layers.h"
#include "tests/support/random_layers.h"

namespace fq::flat {
namespace {

using model::test::relative_l2;

// bf16 outputs of two attention kernels: the attention bf16 bound of tests/unit/model/attention_test.cpp.
// Measured on an H100 (2026-12-07): 3.9e-3 .. 5.8e-3.
constexpr double kPrefixBf16RelTol = 2e-2;
// float32: summation order of other kernels and GEMM shapes (~1e-6), plus the bf16 rounding of the W4A4
// GEMM output, which is per row and the same on both sides. Measured on an H100: 0 .. 1.7e-7 (the
// "deepseek moe, plain q" case joined after that run).
constexpr double kPrefixInt4F32RelTol = 1e-4;

struct PrefixComparison {
  double after_prefix = 0;  // the sequences' own positions
  double prefix = 0;        // the prefix positions
  double quantization = 0;  // the whole sequences with the hooks against without them
};

// One layer of `c`'s config on CUDA in `dtype` (its own random weights, made there): whole sequences against
// the same sequences after a shared prefix.
PrefixComparison run_layer(const test::SmallLayer& c, c10::ScalarType dtype, bool quantized) {
  const c10::Device cuda(c10::kCUDA, 0);
  const auto opts = at::TensorOptions().device(cuda).dtype(dtype);
  const FlatOptions o = test::w4a4kv4_options();
  const int64_t past = 37, s = 9, n = 3;
  at::manual_seed(81);
  const model::LayerWeights original = model::random_layer_weights(c.config, c.layer, dtype, cuda);
  model::LayerWeights w = model::test::clone_layer(original);
  FrozenLayer frozen(c.config, c.layer, w, test::random_frozen_layer(c.config, c.layer, o, 82),
                   test::frozen_quant_options(o, QuantBackend::kInt4));
  model::LayerHooks plain;
  model::LayerHooks& hooks = quantized ? static_cast<model::LayerHooks&>(frozen) : plain;
  const model::LayerWeights& used = quantized ? w : original;
  const at::Tensor prefix = at::randn({1, past, c.config.hidden_size}, opts);
  const at::Tensor own = at::randn({n, s, c.config.hidden_size}, opts);
  const at::Tensor whole_in = at::cat({prefix.expand({n, past, c.config.hidden_size}), own}, 1);
  at::NoGradGuard no_grad;
  const model::RopeTables rope = model::RotaryEmbedding::for_model(c.config).tables(past + s, dtype, cuda);
  const at::Tensor whole = model::layer_forward(c.config, used, whole_in, rope, hooks);
  std::vector<model::PrefixedBatch> batches{{prefix.clone(), own.clone()}};
  model::layer_forward_batches(c.config, used, hooks, batches, /*micro_batch=*/2);
  EXPECT_TRUE(batches[0].hidden.is_cuda()) << c.name;
  PrefixComparison r;
  r.after_prefix = relative_l2(batches[0].hidden, whole.narrow(1, past, s));
  r.prefix = relative_l2(batches[0].prefix, whole.narrow(0, 0, 1).narrow(1, 0, past));
  r.quantization = relative_l2(whole, model::layer_forward(c.config, original, whole_in, rope, plain));
  std::printf("[prefix gpu] %s, %s%s: after prefix vs whole %.2e, prefix vs whole %.2e (hooks vs none %.3f)\n",
              c.name.c_str(), dtype == at::kBFloat16 ? "bf16" : "float32", quantized ? ", int4 flatquant" : "",
              r.after_prefix, r.prefix, r.quantization);
  return r;
}

TEST(PrefixReuseGpu, LayersAfterASharedPrefixMatchWholeSequences) {
  FQ_REQUIRE_CUDA();
  for (const test::SmallLayer& c : test::small_layers(0)) {
    const PrefixComparison plain_bf16 = run_layer(c, at::kBFloat16, /*quantized=*/false);
    EXPECT_LT(plain_bf16.after_prefix, kPrefixBf16RelTol) << c.name;
    EXPECT_LT(plain_bf16.prefix, kPrefixBf16RelTol) << c.name;
    const PrefixComparison int4_f32 = run_layer(c, at::kFloat, /*quantized=*/true);
    EXPECT_LT(int4_f32.after_prefix, kPrefixInt4F32RelTol) << c.name;
    EXPECT_LT(int4_f32.prefix, kPrefixInt4F32RelTol) << c.name;
    // The comparison means something only where the hooks quantize: their error is far above the bound.
    EXPECT_GT(int4_f32.quantization, 100 * kPrefixInt4F32RelTol) << c.name;
  }
}

}  // namespace
}  // namespace fq::flat
