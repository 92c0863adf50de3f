#include "lib/quant/quantized_linear.h"

#include <ATen/ATen.h>

#include "lib/quant/clipped_weight_quant.h"
#include "lib/quant/fake_quant.h"

namespace fq::quant {

QuantizedLinear::QuantizedLinear(at::IntArrayRef weight_shape, const LinearQuantOptions& options,
                                 std::shared_ptr<ActivationQuantizer> act, const at::TensorOptions& param_options)
    : options_(options), act_(std::move(act)), owns_act_(!act_) {
  options_.weight.validate("weight quantizer");
  if (!act_) act_ = std::make_shared<ActivationQuantizer>(options.act, options.lac, param_options);
  if (options.lwc && options.weight.enabled()) {
    lwc_ = std::make_unique<WeightClip>(weight_shape.slice(0, weight_shape.size() - 1), param_options);
  }
}

at::Tensor QuantizedLinear::clip_weight(const at::Tensor& w) const { return lwc_ ? lwc_->apply(w) : w; }

at::Tensor QuantizedLinear::quantize_weight(const at::Tensor& w) const {
  return fake_quantize_weight(w, options_.weight);
}

at::Tensor QuantizedLinear::quantize_input(const at::Tensor& x) const { return (*act_)(x); }

at::Tensor QuantizedLinear::forward(const at::Tensor& x_t, const at::Tensor& w_t) const {
  at::Tensor xq = quantize_input(x_t);
  return at::linear(xq, clip_and_fake_quantize_weight(w_t, lwc_ ? lwc_->factors() : ClipFactors{}, options_.weight)
                            .to(xq.scalar_type()));
}

std::vector<at::Tensor> QuantizedLinear::clip_parameters() const {
  std::vector<at::Tensor> out;
  if (lwc_) out = lwc_->parameters();
  if (owns_act_) {
    for (auto& p : act_->parameters()) out.push_back(p);
  }
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> QuantizedLinear::named_parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  if (lwc_) {
    for (auto& [n, t] : lwc_->named_parameters()) out.emplace_back("weight_" + n, t);
  }
  if (owns_act_) {
    for (auto& [n, t] : act_->named_parameters()) out.emplace_back("act_" + n, t);
  }
  return out;
}

}  // namespace fq::quant
