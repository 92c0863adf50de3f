// Learnable weight clipping (LWC) followed by per-output-channel fake quantization, forward and backward,
// as one per-row formula shared by the CPU reference and the CUDA kernels.
//
// It is the calibration's weight side, written out: lib/quant composes it from ATen ops (clip_rows, then
// fake_quantize_weight) and autograd differentiates that composition. Every FlatQuant step applies it to
// every routed expert's transformed weight (DeepSeek V3: 11.3 B elements per MoE layer), where the
// composition's ~15 elementwise float32 passes per direction were most of a step. Here the forward reads
// a row twice (max/min, then quantize) and the backward three times, in registers.
//
// Per row w[0..k) with clip factors cM, cm (sigmoids of the LWC logits, 1 where there is no LWC):
//   hi = rmax * cM, lo = rmin * cm            (rmax / rmin: the row's max / min; rounded to the storage dtype)
//   wc = min(max(w, lo), hi)                   (torch.clamp)
//   xmax = max(max(wc), 0), xmin = min(min(wc), 0)
//   asymmetric: a zero row takes [-1, 1]; s = max(xmax - xmin, 1e-5) / maxq, z = round(-xmin / s)
//   symmetric:  s = max(max(|xmin|, xmax), 1e-5) / maxq, z = 0
//   out = (clamp(round(wc / s) + z, qmin, qmax) - z) * s
// The backward is that composition's autograd: straight-through rounding, z constant, torch.clamp's masks
// (an element equal to a bound counts as inside), and the gradients of max(wc) / min(wc) routed to the
// element that attains them, or to hi / lo when that element was clipped. Gradients reach w and the clip
// factors (the sigmoid is applied by the caller's autograd). Ties for a row's max or min go to the first
// index (ATen's CPU rule; any choice is a valid subgradient).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/token_quant.h"  // FQ_HOST_DEVICE

namespace fq::kernels {

// The weight quantizer: `bits` in 2..8, per output channel (one row of the weight).
struct WeightQuantRule {
  int bits = 4;
  bool symmetric = false;
};

// Throws fq::Error naming `where` unless 2 <= bits <= 8.
void check_weight_quant_rule(const WeightQuantRule& rule, const char* where);

// float and double overloads of the C math functions (the float ones stay single-precision on both sides).
FQ_HOST_DEVICE float round_half_even(float x) { return rintf(x); }
FQ_HOST_DEVICE double round_half_even(double x) { return rint(x); }
FQ_HOST_DEVICE float min_of(float a, float b) { return fminf(a, b); }
FQ_HOST_DEVICE double min_of(double a, double b) { return fmin(a, b); }
FQ_HOST_DEVICE float max_of(float a, float b) { return fmaxf(a, b); }
FQ_HOST_DEVICE double max_of(double a, double b) { return fmax(a, b); }
FQ_HOST_DEVICE float abs_of(float a) { return fabsf(a); }
FQ_HOST_DEVICE double abs_of(double a) { return fabs(a); }

// Everything about one row that its elements need, forward and backward.
template <typename F>
struct WeightRowQuant {
  F lo, hi;            // clamp bounds (-inf / +inf without clipping)
  F mx, mn;            // max and min of the clamped row
  F spread;            // asymmetric: xmax - xmin; symmetric: max(|xmin|, xmax) (before the 1e-5 floor)
  F xmax, xmin;        // the row range after taking 0 in
  bool symmetric;
  bool zero_row;       // asymmetric only: xmax == xmin == 0, replaced by [-1, 1]
  F scale, zero, qmin, qmax, maxq;
};

// rmax / rmin: the row's max and min; lo / hi: the clamp bounds (already rounded to the storage dtype).
template <typename F>
FQ_HOST_DEVICE WeightRowQuant<F> weight_row_quant(F rmax, F rmin, F lo, F hi, const WeightQuantRule& rule) {
  WeightRowQuant<F> p;
  p.lo = lo;
  p.hi = hi;
  // torch.clamp(x, lo, hi) = min(max(x, lo), hi) is monotone: the clamped row's extremes are the clamped
  // extremes, so no second reduction is needed.
  p.mx = min_of(max_of(rmax, lo), hi);
  p.mn = min_of(max_of(rmin, lo), hi);
  p.xmax = max_of(p.mx, F(0));
  p.xmin = min_of(p.mn, F(0));
  p.symmetric = rule.symmetric;
  p.zero_row = false;
  if (rule.symmetric) {
    p.maxq = F((1 << (rule.bits - 1)) - 1);
    p.spread = max_of(abs_of(p.xmin), p.xmax);
    p.scale = max_of(p.spread, F(1e-5)) / p.maxq;
    p.zero = F(0);
    p.qmin = -p.maxq - F(1);
    p.qmax = p.maxq;
  } else {
    p.maxq = F((1 << rule.bits) - 1);
    p.zero_row = p.xmin == F(0) && p.xmax == F(0);
    if (p.zero_row) p.xmin = F(-1), p.xmax = F(1);
    p.spread = p.xmax - p.xmin;
    p.scale = max_of(p.spread, F(1e-5)) / p.maxq;
    p.zero = round_half_even(-p.xmin / p.scale);
    p.qmin = F(0);
    p.qmax = p.maxq;
  }
  return p;
}

template <typename F>
FQ_HOST_DEVICE F clamp_weight(F w, const WeightRowQuant<F>& p) {
  return min_of(max_of(w, p.lo), p.hi);
}

template <typename F>
FQ_HOST_DEVICE F fake_quant_weight_value(F w, const WeightRowQuant<F>& p) {
  const F c = min_of(max_of(round_half_even(clamp_weight(w, p) / p.scale) + p.zero, p.qmin), p.qmax);
  return (c - p.zero) * p.scale;
}

// One element's part of the backward: the gradient reaching wc (before the clamp's mask) and its terms of
// the row sums of d/ds, d/dlo and d/dhi.
template <typename F>
struct WeightElementGrad {
  F grad_wc;       // d loss / d wc of this element
  F grad_scale;    // this element's term of d loss / d s
};

template <typename F>
FQ_HOST_DEVICE WeightElementGrad<F> weight_element_grad(F w, F grad_out, const WeightRowQuant<F>& p) {
  const F wc = clamp_weight(w, p);
  const F q = round_half_even(wc / p.scale) + p.zero;
  const bool inside = q >= p.qmin && q <= p.qmax;
  const F c = min_of(max_of(q, p.qmin), p.qmax);
  const F through = inside ? grad_out * p.scale : F(0);  // reaches round(wc / s) (straight through)
  return {through / p.scale, grad_out * (c - p.zero) - through * wc / (p.scale * p.scale)};
}

// Row-level backward: from the summed d/ds to d/dmx and d/dmn (the clamped row's max and min).
template <typename F>
struct WeightRangeGrad {
  F grad_mx, grad_mn;
};

template <typename F>
FQ_HOST_DEVICE WeightRangeGrad<F> weight_range_grad(F grad_scale, const WeightRowQuant<F>& p) {
  const F grad_floored = p.spread >= F(1e-5) ? grad_scale / p.maxq : F(0);  // through max(., 1e-5) / maxq
  F grad_xmax, grad_xmin;
  if (p.symmetric) {  // spread = max(|xmin|, xmax): ties split evenly (torch.maximum)
    const F a = abs_of(p.xmin);
    const F to_abs = a > p.xmax ? grad_floored : (a == p.xmax ? grad_floored / F(2) : F(0));
    grad_xmax = a < p.xmax ? grad_floored : (a == p.xmax ? grad_floored / F(2) : F(0));
    grad_xmin = p.xmin > F(0) ? to_abs : (p.xmin < F(0) ? -to_abs : F(0));  // d|x|/dx = sign(x)
  } else if (p.zero_row) {  // the substituted range is a constant
    grad_xmax = grad_xmin = F(0);
  } else {
    grad_xmax = grad_floored;
    grad_xmin = -grad_floored;
  }
  // max(mx, 0) and min(mn, 0) pass the gradient where the bound is not the one taken (ties included).
  return {p.mx >= F(0) ? grad_xmax : F(0), p.mn <= F(0) ? grad_xmin : F(0)};
}

// Row-level backward, last part: the row's extremes and clip bounds. `grad_below` / `grad_above` sum
// grad_wc over the elements clamped up to lo / down to hi; cM / cm are the clip factors as the forward
// used them (rounded to the storage dtype). Returns what the element at the row's first argmax / argmin
// receives on top of its own masked grad_wc, and the clip factors' gradients.
template <typename F>
struct WeightBoundGrad {
  F to_argmax, to_argmin;
  F grad_clip_max, grad_clip_min;
};

template <typename F>
FQ_HOST_DEVICE WeightBoundGrad<F> weight_bound_grad(F rmax, F rmin, F clip_max, F clip_min, F grad_below,
                                                   F grad_above, const WeightRangeGrad<F>& range,
                                                   const WeightRowQuant<F>& p) {
  // max(wc) is attained by the row's argmax, clamped (then it is hi, or lo when the bounds cross it) or not.
  F grad_hi = grad_above, grad_lo = grad_below;
  F to_argmax = F(0), to_argmin = F(0);
  if (rmax > p.hi) grad_hi += range.grad_mx;
  else if (rmax < p.lo) grad_lo += range.grad_mx;
  else to_argmax += range.grad_mx;
  if (rmin < p.lo) grad_lo += range.grad_mn;
  else if (rmin > p.hi) grad_hi += range.grad_mn;
  else to_argmin += range.grad_mn;
  // hi = rmax * cM, lo = rmin * cm.
  return {to_argmax + grad_hi * clip_max, to_argmin + grad_lo * clip_min, grad_hi * rmax, grad_lo * rmin};
}

}  // namespace fq::kernels
