#include "tests/support/random_layers.h"

#include <cmath>

#include <ATen/ATen.h>

#include "lib/model/random_layer.h"

namespace fq::model::test {
namespace {

at::Tensor cast(const at::Tensor& t, c10::ScalarType dtype) { return t.defined() ? t.to(dtype) : t; }

GatedMlpWeights cast(const GatedMlpWeights& w, c10::ScalarType dtype) {
  return {cast(w.gate, dtype), cast(w.up, dtype), cast(w.down, dtype)};
}

// The sizes both small configs share.
io::ModelConfig small_config(io::ModelFamily family, const char* model_type) {
  io::ModelConfig c;
  c.family = family;
  c.model_type = model_type;
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.vocab_size = 128;
  c.max_position_embeddings = 256;
  return c;
}

}  // namespace

io::ModelConfig small_llama_config() {
  io::ModelConfig c = small_config(io::ModelFamily::kLlama, "llama");
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.rms_norm_eps = 1e-5;
  c.rope.type = io::RopeType::kLlama3;
  c.rope.theta = 500000.0;
  c.rope.factor = 8.0;
  c.rope.low_freq_factor = 1.0;
  c.rope.high_freq_factor = 4.0;
  c.rope.original_max_position_embeddings = 64;
  return c;
}

io::ModelConfig small_deepseek_config(bool q_lora) {
  io::ModelConfig c = small_config(io::ModelFamily::kDeepseekV3, "deepseek_v3");
  c.num_key_value_heads = 4;
  c.rms_norm_eps = 1e-6;
  c.rope.type = io::RopeType::kYarn;
  c.rope.theta = 10000.0;
  c.rope.factor = 4.0;
  c.rope.original_max_position_embeddings = 64;
  c.rope.mscale = 1.0;
  c.rope.mscale_all_dim = 1.0;
  c.q_lora_rank = q_lora ? 32 : 0;
  c.kv_lora_rank = 16;
  c.qk_nope_head_dim = 16;
  c.qk_rope_head_dim = 8;
  c.v_head_dim = 12;
  c.moe_intermediate_size = 24;
  c.n_routed_experts = 8;
  c.n_shared_experts = 1;
  c.num_experts_per_tok = 3;
  c.n_group = 4;
  c.topk_group = 2;
  c.first_k_dense_replace = 1;
  c.routed_scaling_factor = 2.5;
  c.norm_topk_prob = true;
  c.rope_interleave = true;
  return c;
}

LlamaLayerWeights random_llama_layer(const io::ModelConfig& c, uint64_t seed, c10::ScalarType dtype) {
  at::manual_seed(seed);
  return cast_layer(std::get<LlamaLayerWeights>(random_layer_weights(c, 0, at::kDouble, at::kCPU)), dtype);
}

DeepseekLayerWeights random_deepseek_layer(const io::ModelConfig& c, bool moe, uint64_t seed, c10::ScalarType dtype) {
  at::manual_seed(seed);
  io::ModelConfig config = c;
  config.first_k_dense_replace = moe ? 0 : 1;
  return cast_layer(std::get<DeepseekLayerWeights>(random_layer_weights(config, 0, at::kDouble, at::kCPU)), dtype);
}

LlamaLayerWeights cast_layer(const LlamaLayerWeights& w, c10::ScalarType dtype) {
  return {cast(w.input_norm, dtype),          cast(w.q, dtype),  cast(w.k, dtype), cast(w.v, dtype), cast(w.o, dtype),
          cast(w.post_attention_norm, dtype), cast(w.mlp, dtype)};
}

DeepseekLayerWeights cast_layer(const DeepseekLayerWeights& w, c10::ScalarType dtype) {
  DeepseekLayerWeights out;
  out.input_norm = cast(w.input_norm, dtype);
  out.post_attention_norm = cast(w.post_attention_norm, dtype);
  const MlaWeights& m = w.attn;
  out.attn = {cast(m.q_a, dtype),  cast(m.q_a_norm, dtype),  cast(m.q_b, dtype),  cast(m.q, dtype),
              cast(m.kv_a, dtype), cast(m.kv_a_norm, dtype), cast(m.kv_b, dtype), cast(m.o, dtype)};
  if (w.dense) out.dense = cast(*w.dense, dtype);
  if (w.moe) {
    MoeWeights e = *w.moe;
    e.gate = cast(e.gate, dtype);
    e.up = cast(e.up, dtype);
    e.down = cast(e.down, dtype);
    if (e.shared) e.shared = cast(*e.shared, dtype);
    out.moe = std::move(e);
  }
  return out;
}

double relative_l2(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor a64 = a.to(at::kDouble), b64 = b.to(at::kDouble);
  return (a64 - b64).norm().item<double>() / b64.norm().item<double>();
}

LayerWeights clone_layer(const LayerWeights& w) {
  auto c = [](const at::Tensor& t) { return t.defined() ? t.clone() : t; };
  auto mlp = [&](const GatedMlpWeights& m) { return GatedMlpWeights{c(m.gate), c(m.up), c(m.down)}; };
  if (const auto* l = std::get_if<LlamaLayerWeights>(&w)) {
    return LlamaLayerWeights{c(l->input_norm), c(l->q), c(l->k), c(l->v), c(l->o), c(l->post_attention_norm), mlp(l->mlp)};
  }
  const auto& d = std::get<DeepseekLayerWeights>(w);
  DeepseekLayerWeights out;
  out.input_norm = c(d.input_norm);
  out.attn = {c(d.attn.q_a), c(d.attn.q_a_norm), c(d.attn.q_b), c(d.attn.q),   c(d.attn.kv_a),
              c(d.attn.kv_a_norm), c(d.attn.kv_b), c(d.attn.o)};
  out.post_attention_norm = c(d.post_attention_norm);
  if (d.dense) out.dense = mlp(*d.dense);
  if (d.moe) {
    const MoeWeights& m = *d.moe;
    out.moe = MoeWeights{c(m.router), c(m.score_bias), c(m.gate), c(m.up), c(m.down), std::nullopt};
    if (m.shared) out.moe->shared = mlp(*m.shared);
  }
  return out;
}

}  // namespace fq::model::test
