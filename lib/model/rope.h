// Rotary position embeddings as Hugging Face computes them (REFERENCE.md section 5): inverse frequencies
// for the default, `linear`, `llama3` and `yarn` types, cos/sin tables, rotate_half application, and
// DeepSeek's interleaved rope layout.
//
// The inverse frequencies are computed in float32 with the same operations in the same order as the
// reference, so the tables agree with it to the last bit and the parity tests measure the model, not RoPE.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "lib/io/model_config.h"

namespace fq::model {

// cos and sin of positions 0..s-1, each [s, dim] in the compute dtype (attention factor applied).
struct RopeTables {
  at::Tensor cos;
  at::Tensor sin;

  // The rows of positions first..first+count-1 (views).
  RopeTables positions(int64_t first, int64_t count) const;
};

class RotaryEmbedding {
 public:
  // `dim`: the rotated size (LLaMA head_dim, DeepSeek qk_rope_head_dim). Throws when odd or the rope
  // parameters are unusable (factor <= 0, llama3 without original_max_position_embeddings...).
  RotaryEmbedding(const io::RopeConfig& rope, int64_t dim);
  // The embedding of a model: LLaMA rotates whole heads, DeepSeek V3 only the qk_rope_head_dim part.
  static RotaryEmbedding for_model(const io::ModelConfig& config);

  int64_t dim() const { return dim_; }
  // [dim / 2] float32 on the CPU.
  const at::Tensor& inv_freq() const { return inv_freq_; }
  // Multiplies cos and sin: the config's resolved RopeConfig::attention_factor (YaRN's mscale; 1 otherwise).
  double attention_factor() const { return attention_factor_; }

  // Angles pos * inv_freq in float32, cos/sin of [freqs, freqs] times the attention factor, cast to `dtype`.
  RopeTables tables(int64_t seq_len, c10::ScalarType dtype, c10::Device device) const;

 private:
  int64_t dim_;
  at::Tensor inv_freq_;
  double attention_factor_;
};

// x: [b, heads, s, dim] -> x * cos + rotate_half(x) * sin, in x's dtype; rotate_half(x) = [-x2, x1].
at::Tensor apply_rotary(const at::Tensor& x, const RopeTables& tables);

// DeepSeek's `rope_interleave`: the last dimension holds pairs (x0, x1), (x2, x3), ...; returns them
// re-ordered to halves (x0, x2, ..., x1, x3, ...) so that apply_rotary rotates each original pair.
at::Tensor deinterleave_pairs(const at::Tensor& x);

// YaRN's magnitude correction: 0.1 * mscale * ln(scale) + 1, or 1 when scale <= 1.
double yarn_mscale(double scale, double mscale);

// The scale of q k^T: head_dim^-0.5 (LLaMA); DeepSeek V3 qk_head_dim^-0.5, times
// yarn_mscale(factor, mscale_all_dim)^2 when the rope is scaled and mscale_all_dim is set.
double attention_softmax_scale(const io::ModelConfig& config);

}  // namespace fq::model
