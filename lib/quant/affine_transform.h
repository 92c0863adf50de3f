// The affine transform P of one linear group (ALGORITHM.md, "The affine transform of one linear group"):
// x' = (x * d) P on activations and W' = (W / d) P^{-T} on weight rows, so that x' W'^T = x W^T exactly.
// P is either Kronecker-decomposed, P = L (x) R with (n1, n2) = decompose_dim(n) — applied as L^T X R on x
// viewed as [..., n1, n2] — or a single n x n matrix (per head, per head_dim). d is the optional
// per-channel scale (diag_scale), SmoothQuant-initialised and later folded into the preceding norm or linear.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "lib/quant/transform_factor.h"

namespace fq::quant {

// The matrices of one transform for one training step (differentiable), or frozen (float64, detached).
struct TransformMatrices {
  at::Tensor left;         // [n1, n1]; undefined for a single (undecomposed) transform
  at::Tensor right;        // [n2, n2] (the whole matrix for a single transform)
  at::Tensor left_inv_t;   // L^{-T}
  at::Tensor right_inv_t;  // R^{-T}
  at::Tensor diag;         // [n] or undefined

  int64_t size() const;
  bool is_single() const { return !left.defined(); }
  // x [..., n] -> (x * d) P. Matrices are cast to x's dtype (as the reference under autocast).
  at::Tensor apply(const at::Tensor& x) const;
  // w [..., n] (rows of weights that consume x) -> (w / d) P^{-T}.
  at::Tensor apply_inverse_transpose(const at::Tensor& w) const;
  // The same without the diag scale (used after d is folded into a norm or a previous linear).
  at::Tensor apply_matrices(const at::Tensor& x, bool inverse_transpose) const;
  // Dense P (or P^{-T}) as an explicit [n, n] matrix, for tests and small single transforms.
  at::Tensor dense(bool inverse_transpose) const;
};

// Applies A^T X B to x [..., n1 * n2] viewed as [..., n1, n2] (equals x @ kron(A, B)).
at::Tensor kronecker_apply(const at::Tensor& x, const at::Tensor& a, const at::Tensor& b);

class AffineTransform {
 public:
  // Kronecker transform of size n = n1 * n2 (decompose_dim(n) unless given explicitly).
  static AffineTransform kronecker(int64_t n, TransformParam param, bool diag_scale, at::Generator& gen,
                                   const at::TensorOptions& options);
  static AffineTransform kronecker(int64_t n1, int64_t n2, TransformParam param, bool diag_scale,
                                   at::Generator& gen, const at::TensorOptions& options);
  // Single n x n transform (no diag scale, as the reference's per-head transforms).
  static AffineTransform single(int64_t n, TransformParam param, at::Generator& gen,
                                const at::TensorOptions& options);

  int64_t size() const;
  bool has_diag() const { return diag_.defined(); }
  TransformMatrices matrices() const;
  // Detached float64 matrices (folding into weights happens in float64).
  TransformMatrices freeze() const;

  // SmoothQuant-style initial diag: d = max|W|_col^(1-alpha) / max|x|_col^alpha, clamped >= 1e-5.
  void init_diag_smoothquant(const at::Tensor& weight_col_absmax, const at::Tensor& act_col_absmax, double alpha);

  std::vector<at::Tensor> transform_parameters() const;  // factors (lr)
  std::vector<at::Tensor> diag_parameters() const;       // diag scale (lr)
  // Every parameter with a stable name ("left.u_free", "right.s", "diag", ...), for training checkpoints.
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;

 private:
  AffineTransform() = default;
  std::vector<TransformFactor> factors_;  // [left, right] or [single]
  at::Tensor diag_;
};

}  // namespace fq::quant
