// Checks shared by the decoder layers' entry points: the hidden states, the layer's weights and the RoPE
// tables must agree on shape, dtype and device before any arithmetic mixes them.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "lib/model/rope.h"

namespace fq::model {

// x: [b, s, hidden]; `norm_weight` stands for the layer's weights (compute dtype and device); rope:
// [past_tokens + s, rope_dim] (positions 0.. of sequences whose first past_tokens positions came before x).
void check_layer_input(const at::Tensor& x, const at::Tensor& norm_weight, const RopeTables& rope, int64_t hidden,
                       int64_t rope_dim, int64_t past_tokens = 0);

}  // namespace fq::model
