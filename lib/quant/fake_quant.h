// Round-to-nearest quantizers with the reference's exact scale rules, in differentiable form:
// rounding uses the straight-through estimator, and scales stay in the autograd graph so that gradients
// reach the learnable clipping factors through them (as in the reference).
//
// Rows are the last dimension (per token for activations, per output channel for weights [out, in]);
// with QuantSpec::group_size = g the last dimension is split into groups of g, each quantized alone.
#pragma once

#include <ATen/core/Tensor.h>

#include "lib/quant/quant_spec.h"

namespace fq::quant {

// round(x) forward, identity backward.
at::Tensor round_ste(const at::Tensor& x);

// Multipliers of the per-row max and min (already squashed into (0, 1] by a sigmoid). Undefined = 1.
struct ClipFactors {
  at::Tensor max;
  at::Tensor min;
};

// Scale and zero point per row (or group): shapes [..., rows(or groups), 1].
struct QuantParams {
  at::Tensor scale;
  at::Tensor zero;  // zeros for symmetric specs
};

// Activation rule (per token): max/min taken with 0, multiplied by the clip factors; a row whose range is
// zero gets scale 1 (symmetric) or the range [-1, 1] (asymmetric). `x` is viewed as [-1, last_dim].
QuantParams activation_quant_params(const at::Tensor& x, const QuantSpec& spec, const ClipFactors& clip = {});

// Weight rule (per output channel of w [out, in]): max/min taken with 0, scale clamped to >= 1e-5.
QuantParams weight_quant_params(const at::Tensor& w, const QuantSpec& spec);

// GPTQ-style MSE grid search over shrink factors p = 1 - i/grid, i < maxshrink*grid, minimising
// sum |q(w) - w|^norm per row. Not differentiable (a search); used for RTN weights without LWC.
QuantParams weight_quant_params_mse(const at::Tensor& w, const QuantSpec& spec, int grid = 100,
                                    double maxshrink = 0.8, double norm = 2.4);

// quantize-dequantize with given params (STE rounding). Output has x's dtype.
at::Tensor fake_quantize(const at::Tensor& x, const QuantParams& params, const QuantSpec& spec);
// fake_quantize's values without autograd, for frozen weights: the same operations in the same order on one
// new tensor (x / s, then rounded, clamped and rescaled in place) instead of one per operation, where the
// straight-through estimator alone costs three passes (its forward value is round's for finite inputs, up to
// the sign of a zero). Output has x's dtype (float32 or float64).
at::Tensor fake_quantize_no_grad(const at::Tensor& x, const QuantParams& params, const QuantSpec& spec);

// Integer codes (no STE): clamp(round(x/s) [+ z]) as int8 (symmetric) or uint8 (asymmetric).
at::Tensor quantize_codes(const at::Tensor& x, const QuantParams& params, const QuantSpec& spec);
at::Tensor dequantize_codes(const at::Tensor& codes, const QuantParams& params, const QuantSpec& spec);

// Per-token fake quantization of activations (LAC optional). Identity when !spec.enabled().
at::Tensor fake_quantize_activation(const at::Tensor& x, const QuantSpec& spec, const ClipFactors& clip = {});
// Per-channel fake quantization of a weight [out, in] (after any clipping). Identity when !spec.enabled().
at::Tensor fake_quantize_weight(const at::Tensor& w, const QuantSpec& spec);

}  // namespace fq::quant
