// The activation quantizer of routed-expert inputs: one LAC pair shared by all experts (the reference) or
// one per expert, applied to rows sorted by expert.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lib/quant/quant_spec.h"

namespace fq::flat {

// Per-token fake quantization of rows sorted by expert; `clip` holds squashed factors [1, 2] (shared by all
// experts) or [E, 2] (per expert; column 0 max, column 1 min), or is undefined (no clipping).
at::Tensor quantize_sorted_rows(const at::Tensor& x_sorted, const std::vector<int64_t>& counts,
                                const quant::QuantSpec& spec, const at::Tensor& clip);

class ExpertActQuantizer {
 public:
  ExpertActQuantizer(const quant::QuantSpec& spec, bool learnable_clip, int64_t experts, bool per_expert,
                     const at::TensorOptions& options);
  // x_sorted [rows, n] with `counts` rows per expert.
  at::Tensor operator()(const at::Tensor& x_sorted, const std::vector<int64_t>& counts) const;
  const quant::QuantSpec& spec() const { return spec_; }
  bool has_clip() const { return max_logit_.defined(); }
  // Sigmoid-ed factors, [1, 2] (shared) or [E, 2] (per expert): column 0 max, column 1 min.
  at::Tensor clip_factors() const;
  std::vector<at::Tensor> parameters() const;
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;

 private:
  quant::QuantSpec spec_;
  bool per_expert_;
  at::Tensor max_logit_;  // [1] or [E]
  at::Tensor min_logit_;
};

}  // namespace fq::flat
