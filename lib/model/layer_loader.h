// Loads one piece of a model at a time from a checkpoint onto a device, in the compute dtype: one decoder
// layer, the embedding, or the output head. Shapes are checked against config.json; every error names the
// checkpoint directory and the tensor.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "lib/io/checkpoint.h"
#include "lib/model/layer_weights.h"

namespace fq::model {

// Layer `layer` (0 <= layer < num_hidden_layers; DeepSeek's multi-token-prediction layer is not one).
// Linear weights and norms come in `dtype`; DeepSeek's router and e_score_correction_bias in float32.
// Routed experts are stacked [E, out, in]: each expert is read on the CPU and copied into its slice of the
// preallocated stacked tensor, so at most one expert exists twice at any time.
LlamaLayerWeights load_llama_layer(const io::Checkpoint& checkpoint, int64_t layer, c10::ScalarType dtype,
                                   c10::Device device);
// `experts`: the routed experts to load (global ids, ascending; MoeWeights::expert_ids); empty loads all.
DeepseekLayerWeights load_deepseek_layer(const io::Checkpoint& checkpoint, int64_t layer, c10::ScalarType dtype,
                                         c10::Device device, const std::vector<int64_t>& experts = {});
// The layer of the checkpoint's architecture (`experts` as above; ignored by dense layers).
LayerWeights load_layer(const io::Checkpoint& checkpoint, int64_t layer, c10::ScalarType dtype, c10::Device device,
                        const std::vector<int64_t>& experts = {});

// model.embed_tokens.weight [vocab, hidden].
at::Tensor load_embedding(const io::Checkpoint& checkpoint, c10::ScalarType dtype, c10::Device device);
// model.norm.weight [hidden].
at::Tensor load_final_norm(const io::Checkpoint& checkpoint, c10::ScalarType dtype, c10::Device device);
// lm_head.weight [vocab, hidden], or model.embed_tokens.weight when tie_word_embeddings.
at::Tensor load_lm_head(const io::Checkpoint& checkpoint, c10::ScalarType dtype, c10::Device device);

}  // namespace fq::model
