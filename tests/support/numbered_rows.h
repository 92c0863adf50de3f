// A model::RowResults for tests of the evaluation forward: per row its number among all rows (so that order
// is checked) and the logits of its last position (which read every position), as float64 on the CPU.
#pragma once

#include <ATen/ATen.h>

#include "lib/model/causal_lm.h"

namespace fq::test {

inline at::Tensor numbered_last_logits(const model::OutputHead& head, int64_t first_row, const at::Tensor& ids,
                                       const at::Tensor& hidden) {
  const at::Tensor numbers = at::arange(first_row, first_row + ids.size(0), at::kDouble).unsqueeze(1);
  return at::cat({numbers, head.logits(hidden.select(1, -1)).to(at::kCPU, at::kDouble)}, 1);
}

}  // namespace fq::test
