// Typed weights of one decoder layer, as the forward passes consume them. Linear weights are [out, in] in
// the compute dtype on the compute device; a layer's tensors are freed when its struct is dropped, so the
// model walks its layers one at a time and is never materialised whole.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include <ATen/core/Tensor.h>

namespace fq::model {

// down(silu(gate(x)) * up(x)): gate/up [intermediate, hidden], down [hidden, intermediate].
struct GatedMlpWeights {
  at::Tensor gate;
  at::Tensor up;
  at::Tensor down;
};

struct LlamaLayerWeights {
  at::Tensor input_norm;           // [hidden]
  at::Tensor q;                    // [H * head_dim, hidden]
  at::Tensor k;                    // [Hkv * head_dim, hidden]
  at::Tensor v;                    // [Hkv * head_dim, hidden]
  at::Tensor o;                    // [hidden, H * head_dim]
  at::Tensor post_attention_norm;  // [hidden]
  GatedMlpWeights mlp;
};

// Multi-head latent attention. Either the LoRA query (q_a, q_a_norm, q_b; q_lora_rank > 0) or a plain q.
struct MlaWeights {
  at::Tensor q_a;        // [q_lora_rank, hidden]
  at::Tensor q_a_norm;   // [q_lora_rank]
  at::Tensor q_b;        // [H * qk_head_dim, q_lora_rank]
  at::Tensor q;          // [H * qk_head_dim, hidden] when q_lora_rank is null
  at::Tensor kv_a;       // [kv_lora_rank + qk_rope_head_dim, hidden] (kv_a_proj_with_mqa)
  at::Tensor kv_a_norm;  // [kv_lora_rank]
  at::Tensor kv_b;       // [H * (qk_nope_head_dim + v_head_dim), kv_lora_rank]
  at::Tensor o;          // [hidden, H * v_head_dim]
};

struct MoeWeights {
  at::Tensor router;                      // [E, hidden] float32 (mlp.gate.weight; the router always runs in float32)
  at::Tensor score_bias;                  // [E] float32 (mlp.gate.e_score_correction_bias)
  at::Tensor gate;                        // [E or expert_ids.size(), moe_intermediate, hidden], routed experts stacked
  at::Tensor up;                          // [E, moe_intermediate, hidden]
  at::Tensor down;                        // [E, hidden, moe_intermediate]
  std::optional<GatedMlpWeights> shared;  // n_shared_experts * moe_intermediate wide; absent when 0
  // Global ids of the stacked experts, ascending: a share of the E routed experts (expert-parallel
  // calibration: each rank of a group holds its own); empty means all E, stacked in id order.
  std::vector<int64_t> expert_ids;
};

struct DeepseekLayerWeights {
  at::Tensor input_norm;  // [hidden]
  MlaWeights attn;
  at::Tensor post_attention_norm;  // [hidden]
  // Exactly one of the two: a dense MLP for the first first_k_dense_replace layers, MoE after.
  std::optional<GatedMlpWeights> dense;
  std::optional<MoeWeights> moe;
};

using LayerWeights = std::variant<LlamaLayerWeights, DeepseekLayerWeights>;

}  // namespace fq::model
