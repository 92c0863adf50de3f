#include "lib/quant/learnable_clip.h"

#include <ATen/ATen.h>

namespace fq::quant {

WeightClip::WeightClip(at::IntArrayRef row_shape, const at::TensorOptions& options) {
  std::vector<int64_t> shape(row_shape.begin(), row_shape.end());
  shape.push_back(1);
  max_logit_ = at::full(shape, kClipInitLogit, options).set_requires_grad(true);
  min_logit_ = at::full(shape, kClipInitLogit, options).set_requires_grad(true);
}

ClipFactors WeightClip::factors() const { return {at::sigmoid(max_logit_), at::sigmoid(min_logit_)}; }

at::Tensor clip_rows(const at::Tensor& w, const ClipFactors& factors) {
  at::Tensor wmax = std::get<0>(w.max(-1, /*keepdim=*/true)) * factors.max.to(w.scalar_type());
  at::Tensor wmin = std::get<0>(w.min(-1, /*keepdim=*/true)) * factors.min.to(w.scalar_type());
  return at::clamp(w, wmin, wmax);
}

at::Tensor WeightClip::apply(const at::Tensor& w) const { return clip_rows(w, factors()); }

ActivationQuantizer::ActivationQuantizer(const QuantSpec& spec, bool learnable_clip, const at::TensorOptions& options)
    : spec_(spec) {
  spec_.validate("activation quantizer");
  if (learnable_clip && spec.enabled()) {
    max_logit_ = at::full({1}, kClipInitLogit, options).set_requires_grad(true);
    min_logit_ = at::full({1}, kClipInitLogit, options).set_requires_grad(true);
  }
}

ClipFactors ActivationQuantizer::factors() const {
  if (!has_clip()) return {};
  return {at::sigmoid(max_logit_), at::sigmoid(min_logit_)};
}

at::Tensor ActivationQuantizer::operator()(const at::Tensor& x) const {
  return fake_quantize_activation(x, spec_, factors());
}

std::vector<at::Tensor> ActivationQuantizer::parameters() const {
  if (!has_clip()) return {};
  return {max_logit_, min_logit_};
}

std::vector<std::pair<std::string, at::Tensor>> ActivationQuantizer::named_parameters() const {
  if (!has_clip()) return {};
  return {{"clip_max", max_logit_}, {"clip_min", min_logit_}};
}

}  // namespace fq::quant
