// Orthogonal matrices for the transforms: random initialisation and the Cayley map.
#pragma once

#include <cstdint>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace fq::quant {

// Q of the QR decomposition of an n x n standard Gaussian (float64), with column signs fixed by diag(R)
// so that the distribution is Haar. Deterministic for a given generator state.
at::Tensor random_orthogonal(int64_t n, at::Generator& gen);

// The Cayley map as PyTorch's orthogonal parametrisation computes it (cayley, no trivialisation):
// A = tril(X) - tril(X)^T (skew-symmetric), Q = (I - A/2)^{-1} (I + A/2). Differentiable; Q is orthogonal
// for any free matrix X [n, n].
at::Tensor cayley(const at::Tensor& free);

}  // namespace fq::quant
