// One DeepSeek V3 decoder layer (MLA attention; dense MLP or MoE), written once for the full-precision
// and the FlatQuant model (layer_hooks.h).
#pragma once

#include <ATen/core/Tensor.h>

#include "lib/io/model_config.h"
#include "lib/model/layer_hooks.h"
#include "lib/model/layer_weights.h"
#include "lib/model/prefix_kv.h"
#include "lib/model/rope.h"

namespace fq::model {

// Multi-head latent attention on `attn_in` = group_input(kAttnIn, input_layernorm(x)), [b, s, hidden].
// Returns o_proj's output [b, s, hidden]. q = q_b(group_input(kQbIn, q_a_layernorm(q_a(attn_in)))) (or
// q_proj); kv_a(attn_in) splits into the latent and one rope head shared by all heads; kv_b (through
// hooks.linear(kKVB)) expands the normalised latent into k_nope and v; rope on the rope parts (pairs
// de-interleaved first when rope_interleave); o_proj sees group_input(kOIn, attention [b, s, H * v_head_dim]).
// With a prefix (prefix_kv.h), rope covers P + s positions and the kept keys are [k_nope, rope(k_rope)].
at::Tensor mla_attention(const io::ModelConfig& config, const MlaWeights& weights, const at::Tensor& attn_in,
                         const RopeTables& rope, LayerHooks& hooks, const PrefixKvUse& prefix = {});

// The MoE block on the post-attention-norm hidden states [b, s, hidden]: the router sees them as they are;
// group_input(kMoeIn) feeds the routed experts (moe_experts.h) and the shared experts.
at::Tensor deepseek_moe(const io::ModelConfig& config, const MoeWeights& weights, const at::Tensor& hidden,
                        LayerHooks& hooks);

// x: [b, s, hidden] in the compute dtype; rope: tables of qk_rope_head_dim for s positions (P + s after a
// prefix of P tokens in `prefix.past`).
at::Tensor deepseek_layer_forward(const io::ModelConfig& config, const DeepseekLayerWeights& weights,
                                  const at::Tensor& x, const RopeTables& rope, LayerHooks& hooks,
                                  const PrefixKvUse& prefix = {});

}  // namespace fq::model
