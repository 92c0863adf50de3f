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

at::Tensor ExpertActQuantizer::operator()(const at::Tensor& x_sorted, const std::vector<int64_t>& counts) const {
  if (!spec_.enabled()) return x_sorted;
  quant::ClipFactors clip;
  if (has_clip()) {
    clip = {at::sigmoid(max_logit_), at::sigmoid(min_logit_)};
    if (per_expert_) {
      // One factor per row: each expert's factor repeated over its rows ([rows, 1]).
      at::Tensor reps = at::tensor(counts, at::kLong).to(max_logit_.device());
      clip.max = clip.max.repeat_interleave(reps).unsqueeze(1);
      clip.min = clip.min.repeat_interleave(reps).unsqueeze(1);
    }
  }
  return quant::fake_quantize_activation(x_sorted, spec_, clip);
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
