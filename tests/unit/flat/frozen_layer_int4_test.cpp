// FrozenLayer on the packed int4 backend against the fake-quant backend, whole decoder layers of every
// architecture variant: weights leave the layer's slots (meta placeholders, packed bytes accounted), the
// outputs are those of the fake backend with bf16-rounded linear outputs (the same codes everywhere), and
// quantizers the kernels cannot take fall back to the fake path.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

#include "lib/flat/frozen_layer.h"
#include "lib/model/decoder_layer.h"
#include "lib/model/rope.h"
#include "tests/support/bf16_output_fake.h"
#include "tests/support/random_frozen_layers.h"
#include "tests/support/random_layers.h"

namespace fq::flat {
namespace {

using model::test::relative_l2;

// Each packed linear agrees with its fake twin up to the bf16 rounding of its output (int4_linear_test.cpp;
// ~1.5e-3 relative per linear here). Through a layer, the next 4-bit quantizers (K/V cache, o_proj and
// MLP inputs) turn that perturbation into whole code steps wherever a value sits near a rounding boundary,
// so whole-layer outputs of the two backends differ by far more (0.25 .. 0.5 on these heavily perturbed
// small layers). The reference is therefore the fake backend with exactly that perturbation, every
// quantized linear's output rounded to bf16 (Bf16OutputFake): the int4 backend must reproduce it up to
// float32 rounding, i.e. with the same codes everywhere but where a value sits on a rounding boundary.
// Measured: 1.7e-8 .. 4.6e-8, and 2.8e-4 for "deepseek moe, plain q" on a CPU whose BLAS sums in another
// order (one activation code one step away); a wrong code path differs by 0.25 .. 0.5, like int4 vs fake.
constexpr double kInt4VsRoundedFakeRelTol = 2e-3;
// Fallback: the same fake quantizers, with the online transforms applied inside the linears (other matmul
// shapes, so float32 sums in another order; rare code flips). Measured: 0 .. 9.3e-8.
constexpr double kFallbackRelTol = 1e-4;

FlatOptions flat_options(bool per_expert) {
  FlatOptions o = test::w4a4kv4_options();
  o.per_expert_down_transform = per_expert;
  o.per_expert_act_quantizers = per_expert;
  return o;
}

at::Tensor forward(const test::SmallLayer& f, const model::LayerWeights& w, model::LayerHooks& hooks) {
  at::Generator gen = at::detail::createCPUGenerator(5);
  const at::Tensor x = at::randn({2, 8, f.config.hidden_size}, gen, at::kFloat);
  const model::RopeTables rope = model::RotaryEmbedding::for_model(f.config).tables(8, at::kFloat, at::kCPU);
  at::NoGradGuard ng;
  return model::layer_forward(f.config, w, x, rope, hooks);
}

// The quantized linears of a fixture (routed experts once per projection; kv_b stays in high precision).
int64_t quantized_linears(const test::SmallLayer& f) {
  if (f.config.family == io::ModelFamily::kLlama) return 7;
  const int64_t attention = f.config.q_lora_rank > 0 ? 4 : 3;  // q_a, q_b | q, kv_a, o
  return attention + (f.layer > 0 ? 6 : 3);                    // routed + shared experts | dense MLP
}

// Packed bytes (K/2 per row, plus a float32 scale and an int32 row sum) and bf16 bytes of the weights
// that left the layer (meta placeholders).
std::pair<int64_t, int64_t> expected_bytes(const model::LayerWeights& w) {
  std::vector<at::Tensor> all;
  if (const auto* l = std::get_if<model::LlamaLayerWeights>(&w)) {
    all = {l->q, l->k, l->v, l->o, l->mlp.gate, l->mlp.up, l->mlp.down};
  } else {
    const auto& d = std::get<model::DeepseekLayerWeights>(w);
    all = {d.attn.q_a, d.attn.q_b, d.attn.q, d.attn.kv_a, d.attn.kv_b, d.attn.o};
    const model::GatedMlpWeights* mlp = d.dense ? &*d.dense : (d.moe && d.moe->shared ? &*d.moe->shared : nullptr);
    if (mlp) all.insert(all.end(), {mlp->gate, mlp->up, mlp->down});
    if (d.moe) all.insert(all.end(), {d.moe->gate, d.moe->up, d.moe->down});
  }
  int64_t packed = 0, bf16 = 0;
  for (const at::Tensor& t : all) {
    if (!t.defined() || !t.is_meta()) continue;
    packed += t.numel() / 2 + 8 * (t.numel() / t.size(-1));
    bf16 += 2 * t.numel();
  }
  return {packed, bf16};
}

bool on_meta(const model::LayerWeights& w) {
  if (const auto* l = std::get_if<model::LlamaLayerWeights>(&w)) return l->q.is_meta() && l->mlp.down.is_meta();
  const auto& d = std::get<model::DeepseekLayerWeights>(w);
  return d.attn.kv_a.is_meta() && !d.attn.kv_b.is_meta() && (d.moe ? d.moe->down.is_meta() : d.dense->down.is_meta());
}

TEST(FrozenLayerInt4, IsTheFakeBackendWithBf16LinearOutputs) {
  for (bool per_expert : {false, true}) {
    for (const test::SmallLayer& f : test::small_layers(1)) {
      const std::string what = f.name + (per_expert ? " (per-expert)" : "");
      const FlatOptions o = flat_options(per_expert);
      const NamedTensors frozen = test::random_frozen_layer(f.config, f.layer, o, 7);
      model::LayerWeights fake_w = model::test::clone_layer(f.weights);
      model::LayerWeights int4_w = model::test::clone_layer(f.weights);
      model::LayerWeights rounded_w = model::test::clone_layer(f.weights);
      FrozenLayer fake(f.config, f.layer, fake_w, frozen, test::frozen_quant_options(o, QuantBackend::kFake));
      FrozenLayer int4(f.config, f.layer, int4_w, frozen, test::frozen_quant_options(o, QuantBackend::kInt4));
      test::Bf16OutputFake rounded(f.config, f.layer, rounded_w, frozen, test::frozen_quant_options(o, QuantBackend::kFake));

      const WeightMemory& m = int4.weight_memory();
      EXPECT_EQ(m.int4_linears, quantized_linears(f)) << what;
      EXPECT_EQ(m.fake_linears, 0) << what;
      // 4 bits per weight plus a float32 scale and an int32 row sum per output row.
      const auto [packed_bytes, bf16_bytes] = expected_bytes(int4_w);
      EXPECT_EQ(m.int4_bytes, packed_bytes) << what;
      EXPECT_EQ(m.int4_as_bf16_bytes, bf16_bytes) << what;
      EXPECT_TRUE(on_meta(int4_w)) << what << ": packed weights must leave the layer's float slots";
      EXPECT_EQ(fake.weight_memory().int4_bytes, 0) << what;

      const at::Tensor y_fake = forward(f, fake_w, fake);
      const at::Tensor y_int4 = forward(f, int4_w, int4);
      model::LayerHooks fp;
      const double quant_err = relative_l2(y_fake, forward(f, f.weights, fp));
      const double err = relative_l2(y_int4, y_fake);
      const at::Tensor y_rounded = forward(f, rounded_w, rounded);
      const double rounding_err = relative_l2(y_rounded, y_fake);
      std::printf("[int4] %s: int4 vs fake %.2e, bf16-rounded fake vs fake %.2e, int4 vs bf16-rounded fake %.2e, fake vs full precision %.2e\n",
                  what.c_str(), err, rounding_err, relative_l2(y_int4, y_rounded), quant_err);
      EXPECT_LT(relative_l2(y_int4, y_rounded), kInt4VsRoundedFakeRelTol) << what;
      // and the comparison is not vacuous: quantization changed the layer, the rounding changed the codes
      EXPECT_GT(quant_err, 0.1) << what;
      EXPECT_GT(rounding_err, 1e-3) << what;
    }
  }
}

TEST(FrozenLayerInt4, QuantizersTheKernelsCannotTakeFallBackToFake) {
  for (const test::SmallLayer& f : test::small_layers(1)) {
    FlatOptions o = flat_options(false);
    o.linear.weight.symmetric = false;  // the GEMM takes symmetric weight codes only
    const NamedTensors frozen = test::random_frozen_layer(f.config, f.layer, o, 8);
    model::LayerWeights fake_w = model::test::clone_layer(f.weights);
    model::LayerWeights int4_w = model::test::clone_layer(f.weights);
    FrozenLayer fake(f.config, f.layer, fake_w, frozen, test::frozen_quant_options(o, QuantBackend::kFake));
    FrozenLayer int4(f.config, f.layer, int4_w, frozen, test::frozen_quant_options(o, QuantBackend::kInt4));
    EXPECT_EQ(int4.weight_memory().int4_linears, 0) << f.name;
    EXPECT_EQ(int4.weight_memory().fake_linears, quantized_linears(f)) << f.name;
    EXPECT_FALSE(on_meta(int4_w)) << f.name;
    const double err = relative_l2(forward(f, int4_w, int4), forward(f, fake_w, fake));
    std::printf("[int4] %s fallback: int4 backend vs fake %.2e\n", f.name.c_str(), err);
    EXPECT_LT(err, kFallbackRelTol) << f.name;
  }
}

}  // namespace
}  // namespace fq::flat
