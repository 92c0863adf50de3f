// Causal self-attention over a batch of fixed-length sequences (positions 0..s-1), with grouped KV heads.
//
// Matches Hugging Face's eager attention (REFERENCE.md section 5): scores q k^T * scale in the compute
// dtype, causal mask, softmax in float32, probabilities cast back, times V. Differentiable: calibration
// backpropagates through it. Memory is the constraint (8 x 4096 tokens x 128 heads would need 64 GiB
// of float32 scores), so no path here materialises the whole [b, H, s, s] score tensor.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace fq::model {

// Budget of float32 score elements one chunk of the fallback may hold (256 MiB).
inline constexpr int64_t kDefaultMaxScoreElements = int64_t{1} << 26;

// q: [b, H, s, d_qk], k: [b, Hkv, s, d_qk], v: [b, Hkv, s, d_v] (H a multiple of Hkv; query head h reads
// KV head h / (H / Hkv), as repeat_kv does). Returns [b, H, s, d_v] in q's dtype.
// LibTorch >= 2.1: at::scaled_dot_product_attention(is_causal) so that CUDA takes the flash or
// memory-efficient kernels (V zero-padded to d_qk when the head sizes differ, the output sliced back).
// LibTorch 1.13: causal_attention_chunked.
at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale);

// The bounded-memory path, available on every LibTorch: query rows in chunks that each attend only to the
// keys they can see, at most `max_score_elements` scores per chunk. The backward pass recomputes each
// chunk's probabilities from the saved float32 log-sum-exp (as flash attention does) instead of keeping
// them, so training memory is bounded too.
at::Tensor causal_attention_chunked(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                                    int64_t max_score_elements = kDefaultMaxScoreElements);

// Queries at positions P..P+s-1 of b sequences that all begin with the same P tokens, whose keys and values
// (past_k [1, Hkv, P, d_qk], past_v [1, Hkv, P, d_v]) were computed once: each query sees all P of them,
// then its own keys causally. q, k, v as in causal_attention, for the s positions only. Equals the rows
// P.. of causal_attention over the whole sequences, up to float summation order. Forward only (evaluation),
// on the bounded-memory path of every LibTorch: SDPA would need the prefix copied into every sequence and
// an explicit mask. The shared keys and values are never copied per sequence.
at::Tensor causal_attention_after_prefix(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const at::Tensor& past_k, const at::Tensor& past_v, double scale,
                                        int64_t max_score_elements = kDefaultMaxScoreElements);

}  // namespace fq::model
