#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/error.h"
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

}  // namespace
}  // namespace fq::model
