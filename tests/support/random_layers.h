// Small model configs and random layer weights (fixed seeds) for the model and FlatQuant unit tests.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "lib/io/model_config.h"
#include "lib/model/layer_weights.h"

namespace fq::model::test {

// hidden 64, 4 heads over 2 KV heads of 16, intermediate 96, llama3 rope scaling.
io::ModelConfig small_llama_config();
// hidden 64, 4 heads, MLA (q_lora_rank 32 or a plain q_proj, kv_lora_rank 16, nope 16 + rope 8, v 12 so that
// V is narrower than QK), 8 routed experts in 4 groups (2 kept, top-3), one shared expert, YaRN.
io::ModelConfig small_deepseek_config(bool q_lora);

// Weights ~ N(0, 1/in) per row, norms 1 + N(0, 0.1^2), router bias N(0, 0.1^2) (negative ones included).
LlamaLayerWeights random_llama_layer(const io::ModelConfig& config, uint64_t seed, c10::ScalarType dtype);
DeepseekLayerWeights random_deepseek_layer(const io::ModelConfig& config, bool moe, uint64_t seed,
                                           c10::ScalarType dtype);

// The same weights in another dtype (router and bias stay float32).
LlamaLayerWeights cast_layer(const LlamaLayerWeights& w, c10::ScalarType dtype);
DeepseekLayerWeights cast_layer(const DeepseekLayerWeights& w, c10::ScalarType dtype);

// A deep copy (at::Tensor copies share storage; folding rewrites weights in place).
LayerWeights clone_layer(const LayerWeights& w);

// ||a - b|| / ||b|| in float64.
double relative_l2(const at::Tensor& a, const at::Tensor& b);

}  // namespace fq::model::test
