// Shape and dtype checks of the W4A4 GEMM operands, shared by the CPU reference and the CUDA dispatch.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "kernels/int4_weight.h"
#include "kernels/packed_int4.h"

namespace fq::kernels {

struct W4A4Shape {
  int64_t m = 0;        // rows of A (tokens)
  int64_t n = 0;        // output features
  int64_t k = 0;        // input features
  int64_t experts = 1;  // 1 for a dense weight
};

// Throws fq::Error naming `name` unless `a` is a consistent PackedInt4Rows (shapes, dtypes, one device).
void check_packed_rows(const PackedInt4Rows& a, const char* op, const char* name);

// a: activations with a.cols == K; w: dense [N, K/2] (expert_offsets undefined) or stacked [E, N, K/2]
// (expert_offsets int64 [E+1]: the rows of `a` sorted by expert, expert e owning rows
// [offsets[e], offsets[e+1])); bias: undefined or float32/bf16 [N]. The values of expert_offsets are
// checked by the CPU reference only (reading them from the GPU would synchronise the stream).
W4A4Shape check_w4a4_operands(const PackedInt4Rows& a, const Int4Weight& w, const at::Tensor& bias,
                              const at::Tensor& expert_offsets, const char* op);

}  // namespace fq::kernels
