// CPU reference of the W4A4 GEMM (dense and grouped over experts), exact in the integer part:
//   acc[m, n] = sum_k (qa[m, k] - za[m]) * qb[e(m), n, k]
//   y[m, n]   = bf16( (float(acc) * sa[m]) * sb[e(m), n] + bias[n] )
// where e(m) is the expert owning row m (0 for a dense weight). The CUDA kernels evaluate the same float32
// epilogue, so their bf16 outputs must equal this bit for bit.
#pragma once

#include <ATen/core/Tensor.h>

#include "kernels/int4_weight.h"
#include "kernels/packed_int4.h"

namespace fq::kernels {

// int64 [M, N]. expert_offsets: int64 [E+1] for a stacked weight, undefined for a dense one.
at::Tensor w4a4_accumulators_cpu(const PackedInt4Rows& a, const Int4Weight& w, const at::Tensor& expert_offsets);

// bf16 [M, N]. bias: undefined or [N].
at::Tensor w4a4_gemm_cpu(const PackedInt4Rows& a, const Int4Weight& w, const at::Tensor& bias,
                         const at::Tensor& expert_offsets);

}  // namespace fq::kernels
