// The routed experts' projections during calibration, without materialising the layer's expert weights.
//
// Every FlatQuant step transforms, clips and fake-quantizes the weight of every routed expert (DeepSeek V3:
// 256 experts x 3 projections, 11 B parameters per layer). Through plain autograd each stage would keep a
// full-size copy for the backward pass (tens of GB per stage). This custom autograd function processes the
// experts in chunks: the forward computes each chunk's quantized weights, runs that chunk's GEMMs and drops
// them; the backward recomputes them chunk by chunk, back-propagates the weight gradient through the
// transform, the clipping and the quantizer, and accumulates the gradients of the (small) transform
// matrices and clipping logits. Peak extra memory is one chunk of weights.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lib/quant/quant_spec.h"

namespace fq::flat {

// How one projection's expert weights are transformed before quantization. Matrices are shared
// ([n1, n1], [n2, n2], [n]) or stacked per expert ([E, n1, n1], ...); any may be undefined (no transform /
// no diag). Logits are the LWC parameters [E, out, 1] (undefined: no clipping).
struct ExpertWeightTransform {
  at::Tensor left_inv_t;
  at::Tensor right_inv_t;
  at::Tensor diag;
  at::Tensor clip_max_logit;
  at::Tensor clip_min_logit;
  quant::QuantSpec spec;
};

// W_chunk [Ec, out, in] of experts [e0, e0 + Ec) -> quantized weights, differentiable w.r.t. the matrices
// and logits. Shared by the fused function and by tests as the unfused reference.
at::Tensor transform_expert_weights(const at::Tensor& w_chunk, int64_t e0, const ExpertWeightTransform& t);

// y_sorted [rows, out] = xq_e W'_e^T for each expert's rows (xq already quantized; `counts` [E] rows per
// expert). Differentiable w.r.t. xq and every tensor of `t`; `stacked_weight` [E, out, in] is constant.
at::Tensor fused_expert_linear(const at::Tensor& xq_sorted, const std::vector<int64_t>& counts,
                               const at::Tensor& stacked_weight, const ExpertWeightTransform& t,
                               int64_t chunk_experts);

}  // namespace fq::flat
