#include "lib/quant/transform_factor.h"

#include <ATen/ATen.h>

#include "lib/quant/orthogonal.h"

namespace fq::quant {

TransformFactor::TransformFactor(int64_t n, TransformParam param, at::Generator& gen,
                                 const at::TensorOptions& options)
    : n_(n), param_(param) {
  free_u_ = random_orthogonal(n, gen).to(options).contiguous().set_requires_grad(true);
  if (param == TransformParam::kOrthogonal) {
    free_v_ = random_orthogonal(n, gen).to(options).contiguous().set_requires_grad(true);
    s_ = at::ones({n}, options).set_requires_grad(true);
  }
}

at::Tensor TransformFactor::u() const { return cayley(free_u_); }
at::Tensor TransformFactor::v() const { return cayley(free_v_); }

TransformFactor::Matrices TransformFactor::matrices(c10::optional<at::ScalarType> dtype) const {
  const at::ScalarType type = dtype.value_or(free_u_.scalar_type());
  if (param_ == TransformParam::kDirectInverse) {
    at::Tensor m = free_u_.to(type);
    return {m, at::inverse(free_u_.to(at::kDouble)).transpose(0, 1).to(type)};
  }
  at::Tensor u = cayley(free_u_.to(type));
  at::Tensor vt = cayley(free_v_.to(type)).transpose(0, 1);
  at::Tensor s = s_.to(type).unsqueeze(0);
  return {at::matmul(u * s, vt), at::matmul(u / s, vt)};
}

std::vector<at::Tensor> TransformFactor::parameters() const {
  if (param_ == TransformParam::kDirectInverse) return {free_u_};
  return {free_u_, free_v_, s_};
}

std::vector<std::pair<std::string, at::Tensor>> TransformFactor::named_parameters() const {
  if (param_ == TransformParam::kDirectInverse) return {{"free", free_u_}};
  return {{"u_free", free_u_}, {"v_free", free_v_}, {"s", s_}};
}

}  // namespace fq::quant
