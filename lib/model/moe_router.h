// DeepSeek V3's router ("noaux_tc", sigmoid scoring, group-limited top-k), as Hugging Face computes it
// (REFERENCE.md section 5). It always runs in float32 on the untransformed post-norm hidden states.
#pragma once

#include <ATen/core/Tensor.h>

#include "lib/io/model_config.h"

namespace fq::model {

struct Routing {
  at::Tensor experts;  // [tokens, top_k] int64, the chosen routed experts (in no particular order)
  at::Tensor weights;  // [tokens, top_k] float32, their combination weights
};

// x: [tokens, hidden]; router_weight: [E, hidden]; score_bias: [E] float32 (e_score_correction_bias).
// logits = x W^T in float32, scores = sigmoid(logits). Selection uses scores + bias: each of n_group groups
// scores the sum of its two best biased scores, the topk_group best groups are kept, the other groups'
// biased scores are set to 0.0 (not -inf: the reference does so, and with negative biases an expert of a
// dropped group can still win), then the top_k experts by biased score are chosen. Weights are the
// UNBIASED scores of the chosen experts, divided by their sum + 1e-20 when norm_topk_prob, times
// routed_scaling_factor. Differentiable in x through the weights, as in the reference.
Routing route_tokens(const at::Tensor& x, const at::Tensor& router_weight, const at::Tensor& score_bias,
                     const io::ModelConfig& config);

}  // namespace fq::model
