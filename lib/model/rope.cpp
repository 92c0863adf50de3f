#include "lib/model/rope.h"

#include <cmath>

#include <ATen/ATen.h>

#include "lib/core/error.h"

namespace fq::model {
namespace {

constexpr double kPi = 3.14159265358979323846;

// theta^(-2k/d) for k < d/2, float32 as the reference computes it: the exponents, then the power, then
// the reciprocal (Python's `1.0 / t` is `t.reciprocal() * 1.0`).
at::Tensor base_frequencies(double theta, int64_t dim) {
  at::Tensor exponents = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / dim;
  return at::reciprocal(at::pow(theta, exponents));
}

at::Tensor llama3_frequencies(const io::RopeConfig& rope, const at::Tensor& inv_freq) {
  FQ_CHECK(rope.original_max_position_embeddings > 0,
           "llama3 rope scaling needs original_max_position_embeddings > 0, got ",
           rope.original_max_position_embeddings);
  FQ_CHECK(rope.high_freq_factor != rope.low_freq_factor,
           "llama3 rope scaling needs high_freq_factor != low_freq_factor, both are ", rope.low_freq_factor);
  const double old_context = static_cast<double>(rope.original_max_position_embeddings);
  const double low_freq_wavelen = old_context / rope.low_freq_factor;
  const double high_freq_wavelen = old_context / rope.high_freq_factor;
  at::Tensor wavelen = at::reciprocal(inv_freq) * (2 * kPi);
  // Long wavelengths are interpolated by `factor`, short ones kept, the band between blended.
  at::Tensor scaled = at::where(wavelen > low_freq_wavelen, inv_freq / rope.factor, inv_freq);
  at::Tensor smooth =
      (at::reciprocal(wavelen) * old_context - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor);
  at::Tensor smoothed = (1 - smooth) * scaled / rope.factor + smooth * scaled;
  at::Tensor is_medium =
      at::logical_not(wavelen < high_freq_wavelen).logical_and(at::logical_not(wavelen > low_freq_wavelen));
  return at::where(is_medium, smoothed, scaled);
}

// Dimension index at which a frequency completes `rotations` turns over the original context.
double correction_dim(double rotations, int64_t dim, double theta, double original_context) {
  return static_cast<double>(dim) * std::log(original_context / (rotations * 2 * kPi)) / (2 * std::log(theta));
}

at::Tensor yarn_frequencies(const io::RopeConfig& rope, int64_t dim, int64_t original_context) {
  at::Tensor pos_freqs = at::pow(rope.theta, at::arange(0, dim, 2, at::kLong).to(at::kFloat) / dim);
  at::Tensor extrapolation = at::reciprocal(pos_freqs);
  at::Tensor interpolation = at::reciprocal(pos_freqs * rope.factor);
  const double context = static_cast<double>(original_context);
  double low = std::floor(correction_dim(rope.beta_fast, dim, rope.theta, context));
  double high = std::ceil(correction_dim(rope.beta_slow, dim, rope.theta, context));
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // keeps the ramp finite
  at::Tensor ramp = at::clamp((at::arange(dim / 2, at::kFloat) - low) / (high - low), 0, 1);
  at::Tensor extrapolation_share = 1 - ramp;
  return interpolation * (1 - extrapolation_share) + extrapolation * extrapolation_share;
}

}  // namespace

double yarn_mscale(double scale, double mscale) {
  if (scale <= 1) return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

RotaryEmbedding::RotaryEmbedding(const io::RopeConfig& rope, int64_t dim)
    : dim_(dim), attention_factor_(rope.attention_factor) {
  FQ_CHECK(dim > 0 && dim % 2 == 0, "rotary dimension must be positive and even, got ", dim);
  FQ_CHECK(rope.theta > 0, "rope_theta must be positive, got ", rope.theta);
  FQ_CHECK(rope.factor > 0, "rope scaling factor must be positive, got ", rope.factor);
  const at::Tensor base = base_frequencies(rope.theta, dim);
  switch (rope.type) {
    case io::RopeType::kDefault:
      inv_freq_ = base;
      break;
    case io::RopeType::kLinear:
      inv_freq_ = base / rope.factor;
      break;
    case io::RopeType::kLlama3:
      inv_freq_ = llama3_frequencies(rope, base);
      break;
    case io::RopeType::kYarn:
      FQ_CHECK(rope.original_max_position_embeddings > 0,
               "yarn rope scaling needs original_max_position_embeddings > 0, got ",
               rope.original_max_position_embeddings);
      inv_freq_ = yarn_frequencies(rope, dim, rope.original_max_position_embeddings);
      break;
  }
}

RotaryEmbedding RotaryEmbedding::for_model(const io::ModelConfig& config) {
  const int64_t dim = config.family == io::ModelFamily::kDeepseekV3 ? config.qk_rope_head_dim : config.head_dim;
  return RotaryEmbedding(config.rope, dim);
}

RopeTables RotaryEmbedding::tables(int64_t seq_len, c10::ScalarType dtype, c10::Device device) const {
  FQ_CHECK(seq_len > 0, "rope tables need a positive sequence length, got ", seq_len);
  at::Tensor positions = at::arange(seq_len, at::TensorOptions().dtype(at::kFloat).device(device));
  at::Tensor freqs = at::outer(positions, inv_freq_.to(device));  // [s, dim / 2], one product per entry
  at::Tensor angles = at::cat({freqs, freqs}, -1);
  return {(angles.cos() * attention_factor_).to(dtype), (angles.sin() * attention_factor_).to(dtype)};
}

RopeTables RopeTables::positions(int64_t first, int64_t count) const {
  FQ_CHECK(first >= 0 && count > 0 && first + count <= cos.size(0), "rope positions ", first, "..", first + count - 1,
           " lie outside tables of ", cos.size(0), " positions");
  return {cos.narrow(0, first, count), sin.narrow(0, first, count)};
}

at::Tensor apply_rotary(const at::Tensor& x, const RopeTables& tables) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * tables.cos + rotated * tables.sin;
}

at::Tensor deinterleave_pairs(const at::Tensor& x) {
  const int64_t dim = x.size(-1);
  std::vector<int64_t> pairs(x.sizes().begin(), x.sizes().end() - 1);
  pairs.push_back(dim / 2);
  pairs.push_back(2);
  return x.reshape(pairs).transpose(-1, -2).reshape(x.sizes());
}

double attention_softmax_scale(const io::ModelConfig& config) {
  if (config.family == io::ModelFamily::kLlama) return 1.0 / std::sqrt(static_cast<double>(config.head_dim));
  double scale = 1.0 / std::sqrt(static_cast<double>(config.qk_head_dim()));
  if (config.rope.type != io::RopeType::kDefault && config.rope.mscale_all_dim != 0) {
    const double mscale = yarn_mscale(config.rope.factor, config.rope.mscale_all_dim);
    scale *= mscale * mscale;
  }
  return scale;
}

}  // namespace fq::model
