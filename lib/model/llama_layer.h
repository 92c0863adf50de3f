// One LLaMA decoder layer, written once for the full-precision and the FlatQuant model (layer_hooks.h).
#pragma once

#include <ATen/core/Tensor.h>

#include "lib/io/model_config.h"
#include "lib/model/layer_hooks.h"
#include "lib/model/layer_weights.h"
#include "lib/model/prefix_kv.h"
#include "lib/model/rope.h"

namespace fq::model {

// x: [b, s, hidden] in the compute dtype (the weights' dtype); rope: tables for s positions in that dtype
// (P + s with a prefix of P tokens in `prefix.past`). Returns the layer output [b, s, hidden]:
//   h = x + o_proj(attention_output(attn(query_key(rope(q, k)), value_cache(v))))  with q/k/v from
//       group_input(kAttnIn, input_layernorm(x))
//   out = h + down(group_input(kDownIn, silu(gate(m)) * up(m)))  with m = group_input(kMlpIn, post_norm(h))
// The keys and values leave query_key / value_cache as the prefix's keys/values are kept (prefix_kv.h).
at::Tensor llama_layer_forward(const io::ModelConfig& config, const LlamaLayerWeights& weights, const at::Tensor& x,
                               const RopeTables& rope, LayerHooks& hooks, const PrefixKvUse& prefix = {});

}  // namespace fq::model
