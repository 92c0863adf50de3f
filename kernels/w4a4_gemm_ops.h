// at::Tensor entry points of the W4A4 GEMM: CPU tensors run the exact reference (kernels/cpu/w4a4_gemm_cpu),
// CUDA tensors the int8-MMA kernels on the current stream (kernels/cuda/w4a4_gemm.cuh).
#pragma once

#include <ATen/core/Tensor.h>

#include "kernels/int4_weight.h"
#include "kernels/packed_int4.h"

namespace fq::kernels {

// Which CUDA kernel runs (ignored on the CPU). kAuto: wgmma (sm_90a) for more than 256 rows (per expert),
// else mma.sync.
enum class W4A4Kernel { kAuto, kMmaSync, kWgmma };

// y = bf16((float(acc) * a.scale[m]) * w.scale[e(m), n] + bias[n]) with acc the exact integer sum of
// (qa - za) * qb over K. a: [M rows, K cols]; w: dense [N, K/2] with expert_offsets undefined, or stacked
// [E, N, K/2] with expert_offsets int64 [E+1] (a's rows sorted by expert; on the same device). bias:
// undefined or [N] float32/bf16. Returns bf16 [M, N]. CUDA needs K % 32 == 0, K <= 65536, N % 8 == 0.
at::Tensor w4a4_gemm(const PackedInt4Rows& a, const Int4Weight& w, const at::Tensor& bias = at::Tensor(),
                     const at::Tensor& expert_offsets = at::Tensor(), W4A4Kernel kernel = W4A4Kernel::kAuto);

// The exact integer sums acc[m, n] themselves, int64 [M, N] (tests and debugging).
at::Tensor w4a4_accumulators(const PackedInt4Rows& a, const Int4Weight& w,
                             const at::Tensor& expert_offsets = at::Tensor(), W4A4Kernel kernel = W4A4Kernel::kAuto);

}  // namespace fq::kernels
