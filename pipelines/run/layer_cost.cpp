#include "pipelines/run/layer_cost.h"

namespace fq::pipelines {

double layer_parameter_count(const io::ModelConfig& c, int64_t layer) {
  const double h = static_cast<double>(c.hidden_size);
  if (c.family == io::ModelFamily::kLlama) {
    const double q = static_cast<double>(c.num_attention_heads * c.head_dim);
    const double kv = static_cast<double>(c.num_key_value_heads * c.head_dim);
    return h * (q + 2 * kv) + q * h + 3 * h * static_cast<double>(c.intermediate_size);
  }
  const double heads = static_cast<double>(c.num_attention_heads);
  double attn = h * static_cast<double>(c.kv_lora_rank + c.qk_rope_head_dim) +
                static_cast<double>(c.kv_lora_rank) * heads * static_cast<double>(c.qk_nope_head_dim + c.v_head_dim) +
                heads * static_cast<double>(c.v_head_dim) * h;
  const double q_out = heads * static_cast<double>(c.qk_head_dim());
  attn += c.q_lora_rank > 0 ? h * c.q_lora_rank + c.q_lora_rank * q_out : h * q_out;
  if (!c.is_moe_layer(layer)) return attn + 3 * h * static_cast<double>(c.intermediate_size);
  const double experts = static_cast<double>(c.n_routed_experts + c.n_shared_experts);
  return attn + 3 * h * static_cast<double>(c.moe_intermediate_size) * experts;
}

}  // namespace fq::pipelines
