// One trainable square factor of a FlatQuant transform, with a cheap inverse-transpose.
//
// Parameterisations (ALGORITHM.md):
//   kOrthogonal ("SVD", the default): M = U diag(s) V^T with U = cayley(Xu), V = cayley(Xv), s free;
//     M^{-T} = U diag(1/s) V^T, so no matrix inverse is ever computed.
//   kDirectInverse: M = X free; M^{-T} = inverse(X)^T computed in float64.
// Free matrices start as random orthogonal matrices (the reference stores them as the parametrisation's
// "original" tensor, so the first U is cayley(random orthogonal), not the random matrix itself).
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

namespace fq::quant {

enum class TransformParam { kOrthogonal, kDirectInverse };

class TransformFactor {
 public:
  TransformFactor(int64_t n, TransformParam param, at::Generator& gen, const at::TensorOptions& options);

  int64_t size() const { return n_; }
  TransformParam param() const { return param_; }
  // M and M^{-T} from one evaluation of the parameterisation, differentiable w.r.t. the parameters.
  // `dtype` other than the parameters' (float64 when freezing) upcasts before the Cayley solve.
  struct Matrices {
    at::Tensor m;
    at::Tensor m_inv_t;
  };
  Matrices matrices(c10::optional<at::ScalarType> dtype = c10::nullopt) const;
  // U and V (orthogonal parameterisation only), for orthogonality checks.
  at::Tensor u() const;
  at::Tensor v() const;

  // Parameters trained at the transform learning rate (free matrices and the singular values s).
  std::vector<at::Tensor> parameters() const;
  // Named tensors for checkpoints of the training state: {"u_free", "v_free", "s"} or {"free"}.
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;

 private:
  int64_t n_;
  TransformParam param_;
  at::Tensor free_u_;  // kOrthogonal: Xu; kDirectInverse: X
  at::Tensor free_v_;
  at::Tensor s_;
};

}  // namespace fq::quant
