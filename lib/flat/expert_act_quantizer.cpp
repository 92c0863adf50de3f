#include "lib/flat/expert_act_quantizer.h"

#include <ATen/ATen.h>

#include "lib/quant/fake_quant.h"
#include "lib/quant/learnable_clip.h"

namespace fq::flat {

ExpertActQuantizer::ExpertActQuantizer(const quant::QuantSpec& spec, bool learnable_clip, int64_t experts,
                                       bool per_expert, const at::TensorOptions& options)
    : spec_(spec), per_expert_(per_expert) {
  if (learnable_clip && spec.enabled()) {
    const int64_t n = per_expert ? experts : 1;
    max_logit_ = at::full({n}, quant::kClipInitLogit, options).set_requires_grad(true);
    min_logit_ = at::full({n}, quant::kClipInitLogit, options).set_requires_grad(true);
  }
}

at::Tensor quantize_sorted_rows(const at::Tensor& x_sorted, const std::vector<int64_t>& counts,
                                const quant::QuantSpec& spec, const at::Tensor& clip) {
  if (!spec.enabled()) return x_sorted;
  quant::ClipFactors factors;
  if (clip.defined()) {
    at::Tensor per_row = clip;
    if (clip.size(0) > 1) {
      // One factor pair per row: each expert's pair repeated over its rows.
      per_row = clip.repeat_interleave(at::tensor(counts, at::kLong).to(clip.device()), 0);
    }
    factors = {per_row.select(1, 0).unsqueeze(1), per_row.select(1, 1).unsqueeze(1)};
  }
  return quant::fake_quantize_activation(x_sorted, spec, factors);
}

at::Tensor ExpertActQuantizer::operator()(const at::Tensor& x_sorted, const std::vector<int64_t>& counts) const {
  at::Tensor clip;
  if (has_clip()) clip = at::stack({at::sigmoid(max_logit_), at::sigmoid(min_logit_)}, 1);
  return quantize_sorted_rows(x_sorted, counts, spec_, clip);
}

at::Tensor ExpertActQuantizer::clip_factors() const {
  if (!has_clip()) return {};
  return at::stack({at::sigmoid(max_logit_), at::sigmoid(min_logit_)}, 1).detach();
}

std::vector<at::Tensor> ExpertActQuantizer::parameters() const {
  if (!has_clip()) return {};
  return {max_logit_, min_logit_};
}

std::vector<std::pair<std::string, at::Tensor>> ExpertActQuantizer::named_parameters() const {
  if (!has_clip()) return {};
  return {{"clip_max", max_logit_}, {"clip_min", min_logit_}};
}

}  // namespace fq::flat
