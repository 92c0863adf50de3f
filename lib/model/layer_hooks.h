// The points of a decoder layer's forward pass where quantization acts.
//
// lib/model writes each architecture's forward once, calling these hooks at the places FlatQuant puts a
// transform or a quantizer (ALGORITHM.md, "Where transforms sit"). The base class is the identity, so a
// forward with `LayerHooks{}` is the full-precision model; lib/flat overrides the hooks with trainable
// transforms (calibration) or frozen ones (evaluation). Keeping one forward per architecture means the
// quantized and the full-precision layers can never drift apart in RoPE, attention or routing details.
//
// Shapes: b = batch, s = sequence, H = attention heads, Hkv = key/value heads, E = routed experts.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace fq::model {

// A group of linears sharing one input; FlatQuant learns one transform per group.
enum class LinearGroup {
  kAttnIn,        // input of q/k/v (LLaMA) or q_a/q/kv_a (DeepSeek), after input_layernorm
  kQbIn,          // DeepSeek: input of q_b_proj, after q_a_layernorm
  kOIn,           // DeepSeek: input of o_proj ([b, s, H * v_head_dim])
  kMlpIn,         // input of gate/up of the dense MLP, after post_attention_layernorm
  kDownIn,        // input of down_proj of the dense MLP
  kMoeIn,         // DeepSeek MoE: input of every expert's gate/up (routed and shared)
  kSharedDownIn,  // DeepSeek MoE: input of the shared experts' down_proj
};

// One linear layer of a decoder layer.
enum class LinearSite {
  kQ, kK, kV, kO,            // LLaMA attention; kQ is also DeepSeek's q_proj when q_lora_rank is null
  kQA, kQB, kKVA, kKVB,      // DeepSeek MLA (kKVB stays in high precision in the reference)
  kGate, kUp, kDown,         // dense MLP
  kSharedGate, kSharedUp, kSharedDown,  // DeepSeek shared experts
};

// The routed-expert linears, whose weights come stacked as [E, out, in].
enum class ExpertSite { kGate, kUp, kDown };

class LayerHooks {
 public:
  virtual ~LayerHooks() = default;

  // The shared input x of a group: returns what the group's linears see (FlatQuant: x * diag, then x P).
  virtual at::Tensor group_input(LinearGroup group, const at::Tensor& x);

  // y = x W^T for one linear (W: [out, in]). FlatQuant: W -> transform, clip, quantize; x -> quantize.
  virtual at::Tensor linear(LinearSite site, const at::Tensor& x, const at::Tensor& weight);

  // LLaMA only, after RoPE: q [b, H, s, d], k [b, Hkv, s, d]; returns them transformed/quantized in place.
  virtual void query_key(at::Tensor& q, at::Tensor& k) {}
  // LLaMA only: v [b, Hkv, s, d] as it enters the cache (FlatQuant quantizes the V cache here).
  virtual at::Tensor value_cache(const at::Tensor& v) { return v; }
  // LLaMA only: the attention output [b, s, H, d] before o_proj; returns [b, s, H * d]
  // (FlatQuant mixes the heads with o_trans here).
  virtual at::Tensor attention_output(const at::Tensor& attn);

  // Routed experts (DeepSeek MoE), computed grouped: `x_sorted` holds the rows entering one projection of
  // the routed experts sorted by expert, `counts` [E] how many rows each expert owns (in order).
  // y_sorted = x_e W_e^T per expert for the stacked weights [E, out, in]. The base class runs one GEMM per
  // expert with rows; FlatQuant transforms, clips and fake-quantizes every expert's weight and quantizes the
  // rows (and may recompute instead of storing, since all expert weights of a layer are ~11 B parameters).
  virtual at::Tensor expert_linear(ExpertSite site, const at::Tensor& x_sorted, const std::vector<int64_t>& counts,
                                   const at::Tensor& stacked_weight);
  // The sorted input of the routed down projections, before expert_linear(kDown): FlatQuant applies the
  // routed down transform (one shared by all experts, or one per expert).
  virtual at::Tensor expert_down_group_input(const at::Tensor& a_sorted, const std::vector<int64_t>& counts) {
    return a_sorted;
  }
  // Expert parallelism: a rank computes only its share of the routed experts (MoeWeights::expert_ids).
  // enter_routed_experts sees the tensors entering that share's computation (the MoE input rows
  // [tokens, hidden] and the routing weights [tokens, top_k]) before any use, combine_routed_experts the
  // share's weighted sum [tokens, hidden] in float32: a group of ranks sums the shares there. The base
  // class leaves both as they are.
  virtual void enter_routed_experts(at::Tensor& x, at::Tensor& routing_weights) {}
  virtual at::Tensor combine_routed_experts(const at::Tensor& share_sum) { return share_sum; }
};

// One GEMM per expert with rows: x_sorted [rows, in] split by `counts`, stacked_weight [E, out, in].
at::Tensor grouped_linear(const at::Tensor& x_sorted, const std::vector<int64_t>& counts,
                          const at::Tensor& stacked_weight);

}  // namespace fq::model
