// Fused online Kronecker transform + per-token int4 quantization of bf16 activations (one pass over the
// rows): y = L^T (x * d) R per row viewed as [n1, n2], then the quantizer of kernels/token_quant.h, written
// as packed int4 + scale (+ zero). Precision: TransformPrecision::kBf16 of kernels/kron_transform.h (bf16
// tensor-core products, float32 accumulation).
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "kernels/token_quant.h"

namespace fq::kernels::gpu {

struct KronQuantArgs {
  const __nv_bfloat16* x = nullptr;  // [rows, n1 * n2], 16-byte aligned
  const float* left = nullptr;       // L [n1, n1], required
  const float* right = nullptr;      // R [n2, n2] or nullptr (identity)
  const float* diag = nullptr;       // d [n1 * n2] or nullptr
  int64_t rows = 0;
  int n1 = 0;
  int n2 = 0;
  TokenQuantConfig cfg;              // bits must be 4
  uint8_t* packed = nullptr;         // [rows, n1 * n2 / 2]
  float* scale = nullptr;            // [rows]
  float* zero = nullptr;             // [rows] when asymmetric, else nullptr
};

// Whether the fused kernel handles these factor sizes: 2 <= n1 <= 128, 8 <= n2 <= 224 with n2 % 8 == 0, an L
// factor present, and the shared memory fitting the current device. Other shapes take the unfused path.
bool kron_transform_quant_supported(int64_t n1, int64_t n2, bool has_left, bool has_right);

void launch_kron_transform_quant(const KronQuantArgs& args, cudaStream_t stream);

}  // namespace fq::kernels::gpu
