// Prefix reuse with the quantization hooks active (lib/model/prefix_kv.h): frozen FlatQuant layers (random
// transforms, perturbed clips, 4-bit weights, activations and Q/K/V caches) and plain round-to-nearest ones,
// on both backends, give the same outputs for sequences run after a shared prefix computed once as for the
// whole sequences. Every hook quantizes per token (and per head), so the prefix's quantized keys/values
// are those the whole sequences compute, up to float32 summation order.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

#include "lib/flat/frozen_layer.h"
#include "lib/model/causal_lm.h"
#include "lib/model/decoder_layer.h"
#include "lib/model/rope.h"
#include "tests/support/random_frozen_layers.h"
#include "tests/support/random_layers.h"

namespace fq::flat {
namespace {

using model::test::relative_l2;

// Float32: the prefix and the sequences go through GEMMs and attention of other shapes than the whole
// sequences, so sums run in another order. Measured: fake backend 1.4e-7 .. 4.2e-7; int4 backend 0 (LLaMA,
// dense) .. 6.2e-8 (MoE: the float32 router's GEMM shape), its CPU kernels computing in float64. A 4-bit
// quantizer turning such a difference into one code step (a value on a rounding boundary) would show as
// ~1e-3: none happens on these inputs.
constexpr double kPrefixQuantF32RelTol = 1e-5;

TEST(FrozenLayerPrefix, SequencesAfterASharedPrefixMatchWholeSequences) {
  const int64_t past = 11, s = 6, n = 3;
  for (const test::SmallLayer& f : test::small_layers(61)) {
    const FlatOptions o = test::w4a4kv4_options();
    for (const bool flatquant : {true, false}) {
      for (const QuantBackend backend : {QuantBackend::kFake, QuantBackend::kInt4}) {
        const std::string what = f.name + (flatquant ? ", flatquant" : ", rtn") +
                                 (backend == QuantBackend::kInt4 ? ", int4" : ", fake");
        model::LayerWeights w = model::test::clone_layer(f.weights);
        FrozenLayer hooks(f.config, f.layer, w, flatquant ? test::random_frozen_layer(f.config, f.layer, o, 65) : NamedTensors{},
                          test::frozen_quant_options(o, backend));
        at::Generator gen = at::detail::createCPUGenerator(66);
        const at::Tensor prefix = at::randn({1, past, f.config.hidden_size}, gen, at::kFloat);
        const at::Tensor own = at::randn({n, s, f.config.hidden_size}, gen, at::kFloat);
        const at::Tensor whole_in = at::cat({prefix.expand({n, past, f.config.hidden_size}), own}, 1);
        at::NoGradGuard ng;
        const model::RopeTables rope =
            model::RotaryEmbedding::for_model(f.config).tables(past + s, at::kFloat, at::kCPU);
        const at::Tensor whole = model::layer_forward(f.config, w, whole_in, rope, hooks);
        std::vector<model::PrefixedBatch> batches{{prefix.clone(), own.clone()}};
        model::layer_forward_batches(f.config, w, hooks, batches, /*micro_batch=*/2);
        const double err = relative_l2(batches[0].hidden, whole.narrow(1, past, s));
        const double prefix_err = relative_l2(batches[0].prefix, whole.narrow(0, 0, 1).narrow(1, 0, past));
        model::LayerHooks full_precision;
        const double quant_err = relative_l2(whole, model::layer_forward(f.config, f.weights, whole_in, rope,
                                                                         full_precision));
        std::printf("[prefix] %s: after prefix vs whole %.2e, prefix vs whole %.2e (quantized vs fp %.2f)\n",
                    what.c_str(), err, prefix_err, quant_err);
        EXPECT_LT(err, kPrefixQuantF32RelTol) << what;
        EXPECT_LT(prefix_err, kPrefixQuantF32RelTol) << what;
        EXPECT_GT(quant_err, 0.05) << what << ": the hooks must quantize for the comparison to mean anything";
      }
    }
  }
}

}  // namespace
}  // namespace fq::flat
