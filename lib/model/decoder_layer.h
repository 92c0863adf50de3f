// The decoder layer of either architecture, for code that walks a model without caring which it is.
#pragma once

#include <ATen/core/Tensor.h>

#include "lib/io/model_config.h"
#include "lib/model/layer_hooks.h"
#include "lib/model/layer_weights.h"
#include "lib/model/prefix_kv.h"
#include "lib/model/rope.h"

namespace fq::model {

// Dispatches to llama_layer_forward or deepseek_layer_forward. x: [b, s, hidden] in the weights' dtype;
// rope: RotaryEmbedding::for_model(config).tables(s, dtype, device) (P + s after a prefix of P tokens).
// `prefix`: run a shared prefix keeping its keys/values, or continue one (prefix_kv.h).
at::Tensor layer_forward(const io::ModelConfig& config, const LayerWeights& weights, const at::Tensor& x,
                         const RopeTables& rope, LayerHooks& hooks, const PrefixKvUse& prefix = {});

}  // namespace fq::model
