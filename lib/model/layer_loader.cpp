#include "lib/model/layer_loader.h"

#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lib/core/error.h"

namespace fq::model {
namespace {

at::Tensor load_shaped(const io::Checkpoint& checkpoint, const std::string& name, const std::vector<int64_t>& shape,
                       c10::ScalarType dtype, c10::Device device) {
  const std::vector<int64_t>& stored = checkpoint.info(name).shape;  // checked before any data is read
  FQ_CHECK(stored == shape, "checkpoint ", checkpoint.dir(), ": tensor ", name, " has shape ", at::IntArrayRef(stored),
           ", config.json implies ", at::IntArrayRef(shape));
  return checkpoint.load(name, dtype, device);
}

// The experts' `proj` weights stacked as [experts.size(), out, in] (module paths: `prefix`{e}.`proj`.weight).
at::Tensor load_stacked_experts(const io::Checkpoint& checkpoint, const std::string& prefix, const std::string& proj,
                                const std::vector<int64_t>& experts, int64_t out, int64_t in, c10::ScalarType dtype,
                                c10::Device device) {
  const int64_t n = static_cast<int64_t>(experts.size());
  at::Tensor stacked = at::empty({n, out, in}, at::TensorOptions().dtype(dtype).device(device));
  for (int64_t i = 0; i < n; ++i) {
    stacked.select(0, i).copy_(load_shaped(checkpoint, prefix + std::to_string(experts[i]) + "." + proj + ".weight",
                                           {out, in}, dtype, c10::kCPU));
  }
  return stacked;
}

GatedMlpWeights load_gated_mlp(const io::Checkpoint& checkpoint, const std::string& prefix, int64_t hidden,
                               int64_t intermediate, c10::ScalarType dtype, c10::Device device) {
  return {load_shaped(checkpoint, prefix + "gate_proj.weight", {intermediate, hidden}, dtype, device),
          load_shaped(checkpoint, prefix + "up_proj.weight", {intermediate, hidden}, dtype, device),
          load_shaped(checkpoint, prefix + "down_proj.weight", {hidden, intermediate}, dtype, device)};
}

std::string layer_prefix(const io::Checkpoint& checkpoint, int64_t layer) {
  const io::ModelConfig& config = checkpoint.config();
  FQ_CHECK(layer >= 0 && layer < config.num_hidden_layers, "checkpoint ", checkpoint.dir(), ": layer ", layer,
           " is outside [0, num_hidden_layers=", config.num_hidden_layers, ")");
  FQ_CHECK(!config.attention_bias && !config.mlp_bias, "checkpoint ", checkpoint.dir(),
           ": attention_bias / mlp_bias are not supported (no LLaMA or DeepSeek V3 release uses them)");
  return "model.layers." + std::to_string(layer) + ".";
}

}  // namespace

LlamaLayerWeights load_llama_layer(const io::Checkpoint& checkpoint, int64_t layer, c10::ScalarType dtype,
                                   c10::Device device) {
  const io::ModelConfig& c = checkpoint.config();
  FQ_CHECK(c.family == io::ModelFamily::kLlama, "checkpoint ", checkpoint.dir(), ": model_type '", c.model_type,
           "' is not llama");
  const std::string p = layer_prefix(checkpoint, layer);
  const int64_t hidden = c.hidden_size, q_out = c.num_attention_heads * c.head_dim;
  const int64_t kv_out = c.num_key_value_heads * c.head_dim;
  LlamaLayerWeights w;
  w.input_norm = load_shaped(checkpoint, p + "input_layernorm.weight", {hidden}, dtype, device);
  w.q = load_shaped(checkpoint, p + "self_attn.q_proj.weight", {q_out, hidden}, dtype, device);
  w.k = load_shaped(checkpoint, p + "self_attn.k_proj.weight", {kv_out, hidden}, dtype, device);
  w.v = load_shaped(checkpoint, p + "self_attn.v_proj.weight", {kv_out, hidden}, dtype, device);
  w.o = load_shaped(checkpoint, p + "self_attn.o_proj.weight", {hidden, q_out}, dtype, device);
  w.post_attention_norm = load_shaped(checkpoint, p + "post_attention_layernorm.weight", {hidden}, dtype, device);
  w.mlp = load_gated_mlp(checkpoint, p + "mlp.", hidden, c.intermediate_size, dtype, device);
  return w;
}

DeepseekLayerWeights load_deepseek_layer(const io::Checkpoint& checkpoint, int64_t layer, c10::ScalarType dtype,
                                         c10::Device device, const std::vector<int64_t>& share) {
  const io::ModelConfig& c = checkpoint.config();
  FQ_CHECK(c.family == io::ModelFamily::kDeepseekV3, "checkpoint ", checkpoint.dir(), ": model_type '", c.model_type,
           "' is not deepseek_v3");
  const std::string p = layer_prefix(checkpoint, layer);
  const std::string a = p + "self_attn.";
  const int64_t hidden = c.hidden_size, heads = c.num_attention_heads;
  DeepseekLayerWeights w;
  w.input_norm = load_shaped(checkpoint, p + "input_layernorm.weight", {hidden}, dtype, device);
  w.post_attention_norm = load_shaped(checkpoint, p + "post_attention_layernorm.weight", {hidden}, dtype, device);
  MlaWeights& m = w.attn;
  if (c.q_lora_rank > 0) {
    m.q_a = load_shaped(checkpoint, a + "q_a_proj.weight", {c.q_lora_rank, hidden}, dtype, device);
    m.q_a_norm = load_shaped(checkpoint, a + "q_a_layernorm.weight", {c.q_lora_rank}, dtype, device);
    m.q_b = load_shaped(checkpoint, a + "q_b_proj.weight", {heads * c.qk_head_dim(), c.q_lora_rank}, dtype, device);
  } else {
    m.q = load_shaped(checkpoint, a + "q_proj.weight", {heads * c.qk_head_dim(), hidden}, dtype, device);
  }
  m.kv_a = load_shaped(checkpoint, a + "kv_a_proj_with_mqa.weight", {c.kv_lora_rank + c.qk_rope_head_dim, hidden},
                       dtype, device);
  m.kv_a_norm = load_shaped(checkpoint, a + "kv_a_layernorm.weight", {c.kv_lora_rank}, dtype, device);
  m.kv_b = load_shaped(checkpoint, a + "kv_b_proj.weight",
                       {heads * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank}, dtype, device);
  m.o = load_shaped(checkpoint, a + "o_proj.weight", {hidden, heads * c.v_head_dim}, dtype, device);

  if (!c.is_moe_layer(layer)) {
    w.dense = load_gated_mlp(checkpoint, p + "mlp.", hidden, c.intermediate_size, dtype, device);
    return w;
  }
  const int64_t experts = c.n_routed_experts, inter = c.moe_intermediate_size;
  MoeWeights moe;
  moe.router = load_shaped(checkpoint, p + "mlp.gate.weight", {experts, hidden}, at::kFloat, device);
  moe.score_bias = load_shaped(checkpoint, p + "mlp.gate.e_score_correction_bias", {experts}, at::kFloat, device);
  const std::string e = p + "mlp.experts.";
  std::vector<int64_t> ids = share;
  if (ids.empty()) {
    for (int64_t id = 0; id < experts; ++id) ids.push_back(id);
  } else {
    moe.expert_ids = share;
    for (size_t i = 0; i < ids.size(); ++i) {
      FQ_CHECK(ids[i] >= 0 && ids[i] < experts && (i == 0 || ids[i] > ids[i - 1]), "checkpoint ", checkpoint.dir(),
               ", layer ", layer, ": expert share must be ascending ids below n_routed_experts=", experts);
    }
  }
  moe.gate = load_stacked_experts(checkpoint, e, "gate_proj", ids, inter, hidden, dtype, device);
  moe.up = load_stacked_experts(checkpoint, e, "up_proj", ids, inter, hidden, dtype, device);
  moe.down = load_stacked_experts(checkpoint, e, "down_proj", ids, hidden, inter, dtype, device);
  if (c.n_shared_experts > 0) {
    moe.shared =
        load_gated_mlp(checkpoint, p + "mlp.shared_experts.", hidden, inter * c.n_shared_experts, dtype, device);
  }
  w.moe = std::move(moe);
  return w;
}

LayerWeights load_layer(const io::Checkpoint& checkpoint, int64_t layer, c10::ScalarType dtype, c10::Device device,
                        const std::vector<int64_t>& experts) {
  if (checkpoint.config().family == io::ModelFamily::kDeepseekV3) {
    return load_deepseek_layer(checkpoint, layer, dtype, device, experts);
  }
  return load_llama_layer(checkpoint, layer, dtype, device);
}

at::Tensor load_embedding(const io::Checkpoint& checkpoint, c10::ScalarType dtype, c10::Device device) {
  const io::ModelConfig& c = checkpoint.config();
  return load_shaped(checkpoint, "model.embed_tokens.weight", {c.vocab_size, c.hidden_size}, dtype, device);
}

at::Tensor load_final_norm(const io::Checkpoint& checkpoint, c10::ScalarType dtype, c10::Device device) {
  return load_shaped(checkpoint, "model.norm.weight", {checkpoint.config().hidden_size}, dtype, device);
}

at::Tensor load_lm_head(const io::Checkpoint& checkpoint, c10::ScalarType dtype, c10::Device device) {
  const io::ModelConfig& c = checkpoint.config();
  const std::string name = c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight";
  return load_shaped(checkpoint, name, {c.vocab_size, c.hidden_size}, dtype, device);
}

}  // namespace fq::model
