// Naive float64 references for the lib/model unit tests, written from REFERENCE.md section 5 without
// reusing lib/model code: explicit per-pair rotations, per-token routing loops, per-token expert loops.
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

#include "lib/io/model_config.h"
#include "lib/model/layer_weights.h"

namespace fq::model::test {

at::Tensor ref_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// x: [b, h, s, d]. Rotates the pair (i, i + d/2) of position p by p * inv_freq[i] (the rotate_half layout),
// or the pair (2i, 2i + 1) when `interleaved` (DeepSeek's layout, left in place). Scaled by `factor`.
at::Tensor ref_rotate(const at::Tensor& x, const at::Tensor& inv_freq, double factor, bool interleaved);

// q: [b, H, s, d], k: [b, Hkv, s, d], v: [b, Hkv, s, dv]: explicit repeat_kv, masked softmax.
at::Tensor ref_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale);

struct RefRouting {
  std::vector<std::vector<int64_t>> experts;  // per token, ascending expert ids
  at::Tensor weights;                         // [tokens, top_k] float64 in the same order, differentiable
};
// Per-token loop over the experts, in float64.
RefRouting ref_route(const at::Tensor& x, const at::Tensor& router_weight, const at::Tensor& score_bias,
                     const io::ModelConfig& config);

// sum over each token's experts of weight * down(silu(gate x) * up x); x: [tokens, hidden].
at::Tensor ref_routed_experts(const at::Tensor& x, const RefRouting& routing, const MoeWeights& weights);

// Whole layers on x [b, s, hidden] (float64 out).
at::Tensor ref_llama_layer(const io::ModelConfig& config, const LlamaLayerWeights& weights, const at::Tensor& x);
at::Tensor ref_deepseek_layer(const io::ModelConfig& config, const DeepseekLayerWeights& weights, const at::Tensor& x);

}  // namespace fq::model::test
