// A frozen Kronecker transform of one linear group's input (ALGORITHM.md "The affine transform of one
// linear group"): for a row x [n], x <- x * d, viewed as X [n1, n2] row-major, X' = L^T X R, flattened
// back; equivalently x @ kron(L, R).
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace fq::kernels {

struct KronTransform {
  at::Tensor left;   // L: float32 [n1, n1]; undefined = identity (a single transform of size n2, n1 = n / n2)
  at::Tensor right;  // R: float32 [n2, n2]; undefined = identity (heads mixed by L only, n2 = n / n1)
  at::Tensor diag;   // d: float32 [n]; undefined = no per-channel scaling
};

// How the matrix products are rounded. kFloat32: float32 operands and accumulation (the exact semantics;
// on CUDA the transform runs through cuBLAS SGEMM and a separate quantization kernel). kBf16: what the fused
// CUDA kernel computes with bf16 tensor cores: x * d, L, R and the intermediate L^T X are rounded to bf16,
// every product accumulates in float32 (no rounding of L^T X when R is absent).
enum class TransformPrecision { kFloat32, kBf16 };

struct KronDims {
  int64_t n1 = 1;
  int64_t n2 = 1;
};

// Validates the factors against the row length n (shapes, dtypes float32, one device) and returns
// (n1, n2) with n1 * n2 == n. Throws fq::Error naming `op` and the offending tensor.
KronDims check_kron_transform(const KronTransform& t, int64_t n, const at::Tensor& x, const char* op);

}  // namespace fq::kernels
