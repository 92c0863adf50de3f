// The fields of a Hugging Face config.json that the forward pass needs, for `llama` and `deepseek_v3`
// (REFERENCE.md section 2). Both the classic rope form (`rope_theta` + `rope_scaling`) and the
// transformers-5 `rope_parameters` form are accepted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fq::io {

enum class ModelFamily { kLlama, kDeepseekV3 };

enum class RopeType { kDefault, kLinear, kLlama3, kYarn };

struct RopeConfig {
  RopeType type = RopeType::kDefault;
  double theta = 10000.0;
  double factor = 1.0;
  // llama3
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 0;
  // yarn
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 1.0;
  double mscale_all_dim = 0.0;  // 0 when absent: the softmax scale then gets no YaRN correction
  // yarn: the factor cos/sin are multiplied by, resolved as transformers does: `attention_factor` when
  // given, else get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim) when both are given and
  // non-zero, else get_mscale(factor). 1 for the other rope types.
  double attention_factor = 1.0;
};

struct ModelConfig {
  ModelFamily family = ModelFamily::kLlama;
  std::string model_type;  // as written in config.json
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // LLaMA: default hidden / heads; DeepSeek: qk_rope_head_dim (as transformers sets it)
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  bool mlp_bias = false;
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;
  RopeConfig rope;

  // DeepSeek V3 (MLA + MoE).
  int64_t q_lora_rank = 0;  // 0 when null: a plain q_proj
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  int64_t moe_intermediate_size = 0;
  int64_t n_routed_experts = 0;
  int64_t n_shared_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  int64_t first_k_dense_replace = 0;
  int64_t moe_layer_freq = 1;
  double routed_scaling_factor = 1.0;
  bool norm_topk_prob = true;
  bool rope_interleave = true;  // DeepSeek only; false for LLaMA
  // FP8 storage (quantization_config.weight_block_size); 0 when the weights are not FP8.
  int64_t fp8_block_rows = 0;
  int64_t fp8_block_cols = 0;

  bool is_moe_layer(int64_t layer) const;  // DeepSeek: layer >= first_k_dense_replace (and freq)
  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
};

// Parses a config.json file; unknown model types and missing required fields throw fq::Error naming the
// file and the field.
ModelConfig parse_model_config(const std::string& path);
// The same from already-parsed JSON text (`where` names the source in errors).
ModelConfig parse_model_config_text(const std::string& json_text, const std::string& where);

}  // namespace fq::io
