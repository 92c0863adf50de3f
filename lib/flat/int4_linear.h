// The packed-int4 ("truly 4-bit") form of a frozen W4A4 linear: the folded weight is held as packed int4
// codes with per-output-channel scales (kernels/int4_weight.h), never as a fake-quantized float copy, and
// each call runs the online input transform and per-token int4 quantization (kron_transform_quantize, LAC
// factors in the TokenQuantConfig) followed by the W4A4 GEMM. On the CPU the kernels' exact references
// run, on CUDA the fused kernels.
//
// The integer codes are those of the fake-quant path (lib/quant/fake_quant): weights by the same RTN or
// MSE scale rule on the same float64 folded weight, activations by the same per-token formula
// (kernels/token_quant.h evaluates activation_quant_params' float32 operations). What differs is only
// float rounding: the float32 weight scale, the float32 epilogue (acc * s_a) * s_w and the bf16 output.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "kernels/int4_weight.h"
#include "kernels/kron_transform.h"
#include "kernels/token_quant.h"
#include "lib/quant/affine_transform.h"
#include "lib/quant/fake_quant.h"

namespace fq::flat {

// Why the packed kernels cannot take these quantizers (empty when they can): weights must be symmetric
// 4-bit per channel, activations 4-bit per token (symmetric or asymmetric).
std::string int4_quantizer_unsupported_reason(const quant::QuantSpec& weight, const quant::QuantSpec& act);

// The same for one linear [out_features, in_features] on `device`: also K even, and on CUDA K % 32 == 0,
// K <= 65536 and N % 8 == 0.
std::string int4_unsupported_reason(const quant::QuantSpec& weight, const quant::QuantSpec& act, int64_t in_features,
                                    int64_t out_features, c10::Device device);

// w64: the folded (clipped, transformed) float64 weight [N, K] -> its RTN (or MSE-grid) codes packed, the
// scale as float32 [N], on w64's device.
kernels::Int4Weight pack_weight_int4(const at::Tensor& w64, const quant::QuantSpec& spec, bool mse);

// Experts' packed weights [N, K/2] each -> one stacked weight [E, N, K/2].
kernels::Int4Weight stack_int4_weights(const std::vector<kernels::Int4Weight>& experts);

// Bytes the packed weight holds (codes, scales, row sums).
int64_t int4_weight_bytes(const kernels::Int4Weight& w);

// The per-token activation quantizer `act` with the squashed LAC factors `clip` (scalar tensors, or
// undefined for no clipping).
kernels::TokenQuantConfig token_quant_config(const quant::QuantSpec& act, const quant::ClipFactors& clip);

// An online transform (diag already folded away) as the kernels take it: float32 factors.
kernels::KronTransform kron_transform_of(const quant::TransformMatrices& online);

// One dense linear: y = int4(T(x)) int4(W)^T.
class Int4Linear {
 public:
  Int4Linear(kernels::Int4Weight weight, kernels::TransformPrecision precision)
      : weight_(std::move(weight)), precision_(precision) {}

  // The input transform (undefined factors = identity) and the activation quantizer, bound once the
  // layer's transforms and clip factors are known.
  void bind_input(kernels::KronTransform transform, kernels::TokenQuantConfig act);
  const kernels::Int4Weight& weight() const { return weight_; }

  // x: [..., K] untransformed -> [..., N] in x's dtype.
  at::Tensor operator()(const at::Tensor& x) const;

 private:
  kernels::Int4Weight weight_;
  kernels::TransformPrecision precision_;
  kernels::KronTransform transform_;
  kernels::TokenQuantConfig act_;
};

// The routed experts of one projection: stacked weights [E, N, K/2], one grouped GEMM over the rows
// sorted by expert.
class Int4Experts {
 public:
  Int4Experts(kernels::Int4Weight stacked, kernels::TransformPrecision precision)
      : weight_(std::move(stacked)), precision_(precision) {}

  // transforms: none, one shared or one per expert; acts: one shared or one per expert.
  void bind_input(std::vector<kernels::KronTransform> transforms, std::vector<kernels::TokenQuantConfig> acts);
  const kernels::Int4Weight& weight() const { return weight_; }

  // x_sorted: [rows, K] untransformed, `counts` [E] rows per expert (zeros allowed) -> [rows, N] in x's dtype.
  at::Tensor operator()(const at::Tensor& x_sorted, const std::vector<int64_t>& counts) const;

 private:
  kernels::Int4Weight weight_;
  kernels::TransformPrecision precision_;
  std::vector<kernels::KronTransform> transforms_;
  std::vector<kernels::TokenQuantConfig> acts_;
};

}  // namespace fq::flat
