// at::Tensor entry points of LWC + per-channel weight fake quantization (kernels/weight_clip_quant.h),
// forward and backward. CPU tensors run the reference (kernels/cpu/weight_clip_quant_cpu.h), CUDA tensors
// the kernels of kernels/cuda/weight_clip_quant.cu on the current stream.
#pragma once

#include <ATen/core/Tensor.h>

#include "kernels/cpu/weight_clip_quant_cpu.h"

namespace fq::kernels {

// Whether the CUDA kernels take `w` [rows, k]: float32 or bfloat16 with k % 8 == 0 (16-byte row loads).
bool weight_clip_fake_quant_cuda_supported(const at::Tensor& w);

// w [rows, k]; clip_max / clip_min [rows] float32 factors (both or neither). On CUDA, `w` must be
// supported (above); the factors are read as float32.
at::Tensor weight_clip_fake_quant(const at::Tensor& w, const at::Tensor& clip_max, const at::Tensor& clip_min,
                                  const WeightQuantRule& rule);

WeightClipQuantGrads weight_clip_fake_quant_backward(const at::Tensor& grad_out, const at::Tensor& w,
                                                     const at::Tensor& clip_max, const at::Tensor& clip_min,
                                                     const WeightQuantRule& rule);

}  // namespace fq::kernels
