// LWC + per-channel weight fake quantization on the GPU (kernels/weight_clip_quant.h), one warp per weight
// row, matching kernels/cpu/weight_clip_quant_cpu bit for bit in the forward (the backward's row sums run
// in another order). Launchers take raw device pointers and a stream.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/cuda/token_quant_kernels.cuh"  // RowDType
#include "kernels/weight_clip_quant.h"

namespace fq::kernels::gpu {

// w, out: [rows, k] of `dtype` (k % 8 == 0, 16-byte aligned); clip_max / clip_min: float32 [rows] or both
// nullptr (no LWC).
void launch_weight_clip_fake_quant(const void* w, RowDType dtype, int64_t rows, int64_t k, const float* clip_max,
                                   const float* clip_min, const WeightQuantRule& rule, void* out,
                                   cudaStream_t stream);

// grad_out, w, grad_w: [rows, k] of `dtype`; grad_clip_max / grad_clip_min: float32 [rows], nullptr without LWC.
void launch_weight_clip_fake_quant_backward(const void* grad_out, const void* w, RowDType dtype, int64_t rows,
                                            int64_t k, const float* clip_max, const float* clip_min,
                                            const WeightQuantRule& rule, void* grad_w, float* grad_clip_max,
                                            float* grad_clip_min, cudaStream_t stream);

}  // namespace fq::kernels::gpu
