// One linear layer under FlatQuant during calibration (ALGORITHM.md "The affine transform of one linear
// group" and "Calibration loop"): the caller hands in the input already transformed by its group
// (x P) and the weight already transformed (W P^{-T}); this class adds learnable weight clipping, per-channel
// weight fake-quantization and per-token activation fake-quantization, then computes x W^T.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lib/quant/learnable_clip.h"
#include "lib/quant/quant_spec.h"

namespace fq::quant {

struct LinearQuantOptions {
  QuantSpec weight{4, true, 0};
  QuantSpec act{4, true, 0};
  bool lwc = true;  // learnable weight clipping
  bool lac = true;  // learnable activation clipping
};

class QuantizedLinear {
 public:
  // `weight_shape` [out, in] or stacked [experts, out, in]; `act` may be shared with other linears
  // (nullptr: a private quantizer is created from options.act).
  QuantizedLinear(at::IntArrayRef weight_shape, const LinearQuantOptions& options,
                  std::shared_ptr<ActivationQuantizer> act, const at::TensorOptions& param_options);

  const LinearQuantOptions& options() const { return options_; }
  const ActivationQuantizer& activation_quantizer() const { return *act_; }
  const std::shared_ptr<ActivationQuantizer>& shared_activation_quantizer() const { return act_; }
  bool has_weight_clip() const { return static_cast<bool>(lwc_); }
  const WeightClip& weight_clip() const { return *lwc_; }

  at::Tensor clip_weight(const at::Tensor& w) const;      // LWC (identity without it)
  at::Tensor quantize_weight(const at::Tensor& w) const;  // per-row fake quantization
  at::Tensor quantize_input(const at::Tensor& x) const;   // per-token fake quantization (LAC)
  // x_t [..., in], w_t [out, in]: linear(quantize_input(x_t), quantize_weight(clip_weight(w_t))).
  at::Tensor forward(const at::Tensor& x_t, const at::Tensor& w_t) const;

  std::vector<at::Tensor> clip_parameters() const;  // LWC and, if not shared, LAC
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;

 private:
  LinearQuantOptions options_;
  std::shared_ptr<ActivationQuantizer> act_;
  bool owns_act_;
  std::unique_ptr<WeightClip> lwc_;
};

}  // namespace fq::quant
