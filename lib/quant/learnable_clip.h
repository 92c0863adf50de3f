// Learnable clipping (ALGORITHM.md): two logits per clipped range, initialised to 4.0 and squashed with a
// sigmoid (sigmoid(4) ~ 0.982), multiplying the range's max and min.
//   LWC (weights): one pair per output row; the (transformed) weight is clamped to [min * sm, max * sM]
//   of its own row before quantization.
//   LAC (activations): one scalar pair per activation quantizer, applied to the per-token max/min inside
//   the scale computation.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lib/quant/fake_quant.h"

namespace fq::quant {

constexpr double kClipInitLogit = 4.0;

class WeightClip {
 public:
  // `row_shape`: the weight's shape without its last (input) dimension, e.g. {out} or {experts, out}.
  WeightClip(at::IntArrayRef row_shape, const at::TensorOptions& options);
  // w [..., in] -> clamp(w, rowmin * sigmoid(min_logit), rowmax * sigmoid(max_logit)).
  at::Tensor apply(const at::Tensor& w) const;
  // The squashed factors [..., 1] (for folding: the frozen clip of a weight is applied once, in float64).
  ClipFactors factors() const;
  std::vector<at::Tensor> parameters() const { return {max_logit_, min_logit_}; }
  const at::Tensor& max_logit() const { return max_logit_; }
  const at::Tensor& min_logit() const { return min_logit_; }
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const {
    return {{"clip_max", max_logit_}, {"clip_min", min_logit_}};
  }

 private:
  at::Tensor max_logit_;  // [..., 1]
  at::Tensor min_logit_;
};

// Clamps w [..., in] to its own per-row range scaled by `factors` (differentiable).
at::Tensor clip_rows(const at::Tensor& w, const ClipFactors& factors);

// A per-token activation quantizer with optional LAC. Several linears may share one (the reference shares
// one between all routed experts of a MoE layer).
class ActivationQuantizer {
 public:
  ActivationQuantizer(const QuantSpec& spec, bool learnable_clip, const at::TensorOptions& options);
  const QuantSpec& spec() const { return spec_; }
  bool has_clip() const { return max_logit_.defined(); }
  at::Tensor operator()(const at::Tensor& x) const;
  ClipFactors factors() const;
  std::vector<at::Tensor> parameters() const;
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;

 private:
  QuantSpec spec_;
  at::Tensor max_logit_;  // [1] or undefined (no LAC)
  at::Tensor min_logit_;
};

}  // namespace fq::quant
