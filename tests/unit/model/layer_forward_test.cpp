#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/error.h"
#include "lib/model/causal_lm.h"
#include "lib/model/decoder_layer.h"
#include "lib/model/deepseek_layer.h"
#include "lib/model/llama_layer.h"
#include "tests/support/random_layers.h"
#include "tests/unit/model/reference_forward.h"

namespace fq::model {
namespace {

constexpr double kLayerF32RelTol = 1e-5;   // whole layer in float32 vs the float64 reference
constexpr double kLayerBf16RelTol = 3e-2;  // whole layer in bfloat16 (dense layers: no routing flips)
constexpr double kLayerGradF32RelTol = 1e-4;

at::Tensor random_hidden(int64_t b, int64_t s, int64_t hidden, uint64_t seed) {
  at::manual_seed(seed);
  return at::randn({b, s, hidden});
}

RopeTables rope_for(const io::ModelConfig& c, int64_t s, c10::ScalarType dtype) {
  return RotaryEmbedding::for_model(c).tables(s, dtype, at::kCPU);
}

TEST(LlamaLayer, MatchesFloat64Reference) {
  const io::ModelConfig c = test::small_llama_config();
  const LlamaLayerWeights w = test::random_llama_layer(c, 31, at::kFloat);
  const at::Tensor x = random_hidden(2, 12, c.hidden_size, 32);
  LayerHooks hooks;
  const at::Tensor out = llama_layer_forward(c, w, x, rope_for(c, 12, at::kFloat), hooks);
  const double err = test::relative_l2(out, test::ref_llama_layer(c, w, x));
  EXPECT_LT(err, kLayerF32RelTol);

  const at::Tensor out_bf16 = llama_layer_forward(c, test::cast_layer(w, at::kBFloat16), x.to(at::kBFloat16),
                                                  rope_for(c, 12, at::kBFloat16), hooks);
  EXPECT_EQ(out_bf16.scalar_type(), at::kBFloat16);
  EXPECT_LT(test::relative_l2(out_bf16, test::ref_llama_layer(c, w, x)), kLayerBf16RelTol);
}

struct DeepseekCase {
  const char* name;
  bool q_lora;
  bool moe;
};

TEST(DeepseekLayer, MatchesFloat64Reference) {
  for (const DeepseekCase& dc : {DeepseekCase{"dense, q_lora", true, false}, DeepseekCase{"moe, q_lora", true, true},
                                 DeepseekCase{"moe, plain q", false, true}}) {
    const io::ModelConfig c = test::small_deepseek_config(dc.q_lora);
    const DeepseekLayerWeights w = test::random_deepseek_layer(c, dc.moe, 33, at::kFloat);
    const at::Tensor x = random_hidden(2, 10, c.hidden_size, 34);
    LayerHooks hooks;
    const at::Tensor out = deepseek_layer_forward(c, w, x, rope_for(c, 10, at::kFloat), hooks);
    EXPECT_LT(test::relative_l2(out, test::ref_deepseek_layer(c, w, x)), kLayerF32RelTol) << dc.name;
  }
}

TEST(DeepseekLayer, NonInterleavedRopeMatchesReference) {
  io::ModelConfig c = test::small_deepseek_config(true);
  c.rope_interleave = false;
  const DeepseekLayerWeights w = test::random_deepseek_layer(c, false, 35, at::kFloat);
  const at::Tensor x = random_hidden(1, 9, c.hidden_size, 36);
  LayerHooks hooks;
  const at::Tensor out = deepseek_layer_forward(c, w, x, rope_for(c, 9, at::kFloat), hooks);
  EXPECT_LT(test::relative_l2(out, test::ref_deepseek_layer(c, w, x)), kLayerF32RelTol);
  c.rope_interleave = true;  // the layout matters: the other reading gives another layer
  EXPECT_GT(test::relative_l2(out, test::ref_deepseek_layer(c, w, x)), 1e-3);
}

TEST(DeepseekLayer, DenseBfloat16StaysClose) {
  const io::ModelConfig c = test::small_deepseek_config(true);
  const DeepseekLayerWeights w = test::random_deepseek_layer(c, false, 37, at::kFloat);
  const at::Tensor x = random_hidden(2, 10, c.hidden_size, 38);
  LayerHooks hooks;
  const at::Tensor out = deepseek_layer_forward(c, test::cast_layer(w, at::kBFloat16), x.to(at::kBFloat16),
                                                rope_for(c, 10, at::kBFloat16), hooks);
  EXPECT_LT(test::relative_l2(out, test::ref_deepseek_layer(c, w, x)), kLayerBf16RelTol);
}

TEST(DecoderLayer, GradientsMatchFloat64Autograd) {
  // Calibration backpropagates through whole layers: check weight gradients, through attention and MoE.
  const io::ModelConfig lc = test::small_llama_config();
  LlamaLayerWeights lw = test::random_llama_layer(lc, 39, at::kFloat);
  const at::Tensor x = random_hidden(2, 8, 64, 40);
  LlamaLayerWeights lw64 = test::cast_layer(lw, at::kDouble);
  lw.q.requires_grad_(true), lw.mlp.up.requires_grad_(true), lw64.q.requires_grad_(true);
  lw64.mlp.up.requires_grad_(true);
  LayerHooks hooks;
  llama_layer_forward(lc, lw, x, rope_for(lc, 8, at::kFloat), hooks).pow(2).sum().backward();
  test::ref_llama_layer(lc, lw64, x).pow(2).sum().backward();
  EXPECT_LT(test::relative_l2(lw.q.grad(), lw64.q.grad()), kLayerGradF32RelTol);
  EXPECT_LT(test::relative_l2(lw.mlp.up.grad(), lw64.mlp.up.grad()), kLayerGradF32RelTol);

  const io::ModelConfig dc = test::small_deepseek_config(true);
  DeepseekLayerWeights dw = test::random_deepseek_layer(dc, true, 41, at::kFloat);
  DeepseekLayerWeights dw64 = test::cast_layer(dw, at::kDouble);
  dw.attn.kv_b.requires_grad_(true), dw.moe->up.requires_grad_(true);
  dw64.attn.kv_b.requires_grad_(true), dw64.moe->up.requires_grad_(true);
  deepseek_layer_forward(dc, dw, x, rope_for(dc, 8, at::kFloat), hooks).pow(2).sum().backward();
  test::ref_deepseek_layer(dc, dw64, x).pow(2).sum().backward();
  EXPECT_LT(test::relative_l2(dw.attn.kv_b.grad(), dw64.attn.kv_b.grad()), kLayerGradF32RelTol);
  EXPECT_LT(test::relative_l2(dw.moe->up.grad(), dw64.moe->up.grad()), kLayerGradF32RelTol);
}

TEST(DecoderLayer, DispatchesOnWeightsAndChecksInputs) {
  const io::ModelConfig lc = test::small_llama_config();
  const io::ModelConfig dc = test::small_deepseek_config(true);
  const LayerWeights llama = test::random_llama_layer(lc, 42, at::kFloat);
  const LayerWeights deepseek = test::random_deepseek_layer(dc, true, 43, at::kFloat);
  const at::Tensor x = random_hidden(1, 6, 64, 44);
  LayerHooks hooks;
  EXPECT_TRUE(
      at::equal(layer_forward(lc, llama, x, rope_for(lc, 6, at::kFloat), hooks),
                llama_layer_forward(lc, std::get<LlamaLayerWeights>(llama), x, rope_for(lc, 6, at::kFloat), hooks)));
  EXPECT_TRUE(at::equal(
      layer_forward(dc, deepseek, x, rope_for(dc, 6, at::kFloat), hooks),
      deepseek_layer_forward(dc, std::get<DeepseekLayerWeights>(deepseek), x, rope_for(dc, 6, at::kFloat), hooks)));
  EXPECT_THROW(layer_forward(dc, llama, x, rope_for(dc, 6, at::kFloat), hooks), fq::Error);
  EXPECT_THROW(layer_forward(lc, llama, x.to(at::kBFloat16), rope_for(lc, 6, at::kBFloat16), hooks), fq::Error);
  EXPECT_THROW(layer_forward(lc, llama, x, rope_for(lc, 5, at::kFloat), hooks), fq::Error);
  EXPECT_THROW(layer_forward(lc, llama, x.narrow(2, 0, 32), rope_for(lc, 6, at::kFloat), hooks), fq::Error);
}

// Prefix reuse (prefix_kv.h): a prefix run once through the layer, its keys/values kept, then sequences'
// own tokens after it give the layer outputs of the whole sequences. Float64 weights and activations: only
// summation order differs (measured 9e-17 .. 1.4e-16); the float32 softmax sees score rows of the same length
// (one chunk at these sizes; attention_test.cpp covers other chunkings).
constexpr double kPrefixF64RelTol = 1e-10;
// The MoE router runs in float32 whatever the compute dtype (as the reference's), and a float32 GEMM's rows
// depend on the batch shape: the routing weights differ at float32 rounding between any two batchings of
// the same tokens. Measured 2e-8 .. 5e-8, the same for the whole sequences in micro-batches of 2 vs 3.
constexpr double kPrefixMoeF64RelTol = 1e-6;

struct PrefixCase {
  const char* name;
  io::ModelConfig config;
  LayerWeights weights;
};

std::vector<PrefixCase> prefix_cases() {
  const io::ModelConfig llama = test::small_llama_config();
  const io::ModelConfig ds = test::small_deepseek_config(true), ds_plain_q = test::small_deepseek_config(false);
  return {{"llama", llama, test::cast_layer(test::random_llama_layer(llama, 51, at::kFloat), at::kDouble)},
          {"deepseek dense", ds, test::cast_layer(test::random_deepseek_layer(ds, false, 52, at::kFloat), at::kDouble)},
          {"deepseek moe", ds, test::cast_layer(test::random_deepseek_layer(ds, true, 53, at::kFloat), at::kDouble)},
          {"deepseek moe, plain q", ds_plain_q,
           test::cast_layer(test::random_deepseek_layer(ds_plain_q, true, 54, at::kFloat), at::kDouble)}};
}

TEST(PrefixKv, SequencesAfterASharedPrefixMatchWholeSequencesInFloat64) {
  const int64_t past = 9, s = 5, n = 3;
  for (const PrefixCase& pc : prefix_cases()) {
    const io::ModelConfig& c = pc.config;
    const at::Tensor prefix = random_hidden(1, past, c.hidden_size, 55).to(at::kDouble);
    const at::Tensor own = random_hidden(n, s, c.hidden_size, 56).to(at::kDouble);
    const at::Tensor whole_in = at::cat({prefix.expand({n, past, c.hidden_size}), own}, 1);
    LayerHooks hooks;
    const at::Tensor whole = layer_forward(c, pc.weights, whole_in, rope_for(c, past + s, at::kDouble), hooks);
    // A prefixed batch (micro-batches of 2 over 3 sequences) beside a batch computed whole, as a walk runs them.
    std::vector<PrefixedBatch> batches{{prefix.clone(), own.clone()}, {at::Tensor(), whole_in.clone()}};
    layer_forward_batches(c, pc.weights, hooks, batches, /*micro_batch=*/2);
    const bool moe = std::holds_alternative<DeepseekLayerWeights>(pc.weights) &&
                     std::get<DeepseekLayerWeights>(pc.weights).moe.has_value();
    const double tol = moe ? kPrefixMoeF64RelTol : kPrefixF64RelTol;
    const double err = test::relative_l2(batches[0].hidden, whole.narrow(1, past, s));
    const double prefix_err = test::relative_l2(batches[0].prefix, whole.narrow(0, 0, 1).narrow(1, 0, past));
    const double rebatched_err = test::relative_l2(batches[1].hidden, whole);
    std::printf("[prefix] %s float64: after prefix vs whole %.1e, prefix %.1e, whole re-batched %.1e\n", pc.name, err,
                prefix_err, rebatched_err);
    EXPECT_LT(err, tol) << pc.name;
    EXPECT_LT(prefix_err, tol) << pc.name;
    EXPECT_LT(rebatched_err, tol) << pc.name;
    // Not vacuous: the same tokens without the prefix (from position 0) give another output.
    EXPECT_GT(test::relative_l2(layer_forward(c, pc.weights, own, rope_for(c, s, at::kDouble), hooks),
                                whole.narrow(1, past, s)),
              1e-2)
        << pc.name;

    // Rope tables must cover the prefix and the sequence; a kept prefix is one sequence.
    PrefixKv kv;
    layer_forward(c, pc.weights, prefix, rope_for(c, past, at::kDouble), hooks, {nullptr, &kv});
    EXPECT_EQ(kv.key.size(2), past) << pc.name;
    EXPECT_THROW(layer_forward(c, pc.weights, own, rope_for(c, s, at::kDouble), hooks, {&kv, nullptr}), fq::Error);
    EXPECT_THROW(layer_forward(c, pc.weights, own, rope_for(c, s, at::kDouble), hooks, {nullptr, &kv}), fq::Error);
  }
}

}  // namespace
}  // namespace fq::model
