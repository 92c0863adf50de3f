// Folding learned transforms into weights and norms after calibration (ALGORITHM.md "Calibration loop"):
// all arithmetic in float64, results cast back by the caller.
#pragma once

#include <ATen/core/Tensor.h>

#include "lib/quant/affine_transform.h"
#include "lib/quant/fake_quant.h"

namespace fq::quant {

// W [..., in] consuming the group's input -> clip((W / d) P^{-T}) in float64; `clip` may be empty (no LWC).
at::Tensor fold_weight(const at::Tensor& w, const TransformMatrices& frozen, const ClipFactors& clip = {});

// Output rows of W [out, in] grouped in blocks of m.size(0) (one per head) -> M^T W_block per block,
// i.e. the linear's output is multiplied by M (the V-cache transform folded into v_proj / kv_b rows).
at::Tensor fold_output_transform(const at::Tensor& w, const at::Tensor& m);

// A norm weight g [n] preceding the group: g * d (the diag scale moves into the norm).
at::Tensor fold_scale_into_norm(const at::Tensor& norm_weight, const at::Tensor& diag);

// Rows of the linear producing the group's input: W_prev [n, in] -> diag(d) W_prev (the diag moves into
// the previous linear, e.g. down_proj's diag into up_proj rows, since silu(g) * (u * d) = (silu(g) * u) * d).
at::Tensor fold_scale_into_rows(const at::Tensor& w_prev, const at::Tensor& diag);

}  // namespace fq::quant
