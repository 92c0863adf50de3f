// CPU reference of LWC + per-channel weight fake quantization, forward and backward (the per-row formula of
// kernels/weight_clip_quant.h, evaluated row by row with sequential sums). float64 weights are computed in
// float64, float32 and bfloat16 ones in float32 (bf16 clip bounds rounded to bf16, as the forward's ATen
// composition does). The CUDA kernels reproduce its forward bit for bit.
#pragma once

#include <ATen/core/Tensor.h>

#include "kernels/weight_clip_quant.h"

namespace fq::kernels {

// Gradients of weight_clip_fake_quant: w's shape and dtype; the clip factors' (undefined without LWC).
struct WeightClipQuantGrads {
  at::Tensor w;
  at::Tensor clip_max;
  at::Tensor clip_min;
};

// w: [rows, k] float64 / float32 / bfloat16; clip_max, clip_min: [rows] floating factors in (0, 1], both
// defined (LWC) or both undefined. Returns the fake-quantized weight, w's shape and dtype.
at::Tensor weight_clip_fake_quant_cpu(const at::Tensor& w, const at::Tensor& clip_max, const at::Tensor& clip_min,
                                      const WeightQuantRule& rule);

// grad_out: [rows, k], any floating dtype.
WeightClipQuantGrads weight_clip_fake_quant_backward_cpu(const at::Tensor& grad_out, const at::Tensor& w,
                                                         const at::Tensor& clip_max, const at::Tensor& clip_min,
                                                         const WeightQuantRule& rule);

}  // namespace fq::kernels
