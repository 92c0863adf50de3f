#include "lib/quant/affine_transform.h"

#include <ATen/ATen.h>

#include "lib/core/error.h"
#include "lib/quant/decompose_dim.h"

namespace fq::quant {

at::Tensor kronecker_apply(const at::Tensor& x, const at::Tensor& a, const at::Tensor& b) {
  const int64_t n1 = a.size(0);
  const int64_t n2 = b.size(0);
  FQ_CHECK(x.size(-1) == n1 * n2, "Kronecker transform of size ", n1, "x", n2, " applied to a last dimension of ",
           x.size(-1));
  // Both products run as single large GEMMs: X R over rows of n2, then (L^T X)^T = X^T L over rows of n1,
  // instead of a batched product of tiny n1 x n1 matrices per token (far slower on CPU and GPU alike).
  at::Tensor v = at::matmul(x.reshape({-1, n2}), b.to(x.scalar_type()));
  v = at::matmul(v.view({-1, n1, n2}).transpose(1, 2), a.to(x.scalar_type()));
  return v.transpose(1, 2).reshape(x.sizes());
}

int64_t TransformMatrices::size() const { return is_single() ? right.size(0) : left.size(0) * right.size(0); }

at::Tensor TransformMatrices::apply_matrices(const at::Tensor& x, bool inverse_transpose) const {
  const at::Tensor& r = inverse_transpose ? right_inv_t : right;
  if (is_single()) {
    FQ_CHECK(x.size(-1) % r.size(0) == 0, "transform of size ", r.size(0), " applied to a last dimension of ",
             x.size(-1));
    return at::matmul(x.reshape({-1, r.size(0)}), r.to(x.scalar_type())).reshape(x.sizes());
  }
  return kronecker_apply(x, inverse_transpose ? left_inv_t : left, r);
}

at::Tensor TransformMatrices::apply(const at::Tensor& x) const {
  return apply_matrices(diag.defined() ? x * diag.to(x.scalar_type()) : x, false);
}

at::Tensor TransformMatrices::apply_inverse_transpose(const at::Tensor& w) const {
  return apply_matrices(diag.defined() ? w / diag.to(w.scalar_type()) : w, true);
}

at::Tensor TransformMatrices::dense(bool inverse_transpose) const {
  const at::Tensor& r = inverse_transpose ? right_inv_t : right;
  if (is_single()) return r;
  return at::kron(inverse_transpose ? left_inv_t : left, r);
}

AffineTransform AffineTransform::kronecker(int64_t n, TransformParam param, bool diag_scale, at::Generator& gen,
                                           const at::TensorOptions& options) {
  auto [n1, n2] = decompose_dim(n);
  return kronecker(n1, n2, param, diag_scale, gen, options);
}

AffineTransform AffineTransform::kronecker(int64_t n1, int64_t n2, TransformParam param, bool diag_scale,
                                           at::Generator& gen, const at::TensorOptions& options) {
  AffineTransform t;
  t.factors_.emplace_back(n1, param, gen, options);
  t.factors_.emplace_back(n2, param, gen, options);
  if (diag_scale) t.diag_ = at::ones({n1 * n2}, options).set_requires_grad(true);
  return t;
}

AffineTransform AffineTransform::single(int64_t n, TransformParam param, at::Generator& gen,
                                        const at::TensorOptions& options) {
  AffineTransform t;
  t.factors_.emplace_back(n, param, gen, options);
  return t;
}

int64_t AffineTransform::size() const {
  int64_t n = 1;
  for (const auto& f : factors_) n *= f.size();
  return n;
}

TransformMatrices AffineTransform::matrices() const {
  TransformMatrices m;
  auto last = factors_.back().matrices();
  m.right = last.m;
  m.right_inv_t = last.m_inv_t;
  if (factors_.size() == 2) {
    auto first = factors_.front().matrices();
    m.left = first.m;
    m.left_inv_t = first.m_inv_t;
  }
  m.diag = diag_;
  return m;
}

TransformMatrices AffineTransform::freeze() const {
  at::NoGradGuard no_grad;
  TransformMatrices m;
  auto last = factors_.back().matrices(at::kDouble);
  m.right = last.m;
  m.right_inv_t = last.m_inv_t;
  if (factors_.size() == 2) {
    auto first = factors_.front().matrices(at::kDouble);
    m.left = first.m;
    m.left_inv_t = first.m_inv_t;
  }
  if (diag_.defined()) m.diag = diag_.detach().to(at::kDouble);
  return m;
}

void AffineTransform::init_diag_smoothquant(const at::Tensor& weight_col_absmax, const at::Tensor& act_col_absmax,
                                            double alpha) {
  FQ_CHECK(diag_.defined(), "init_diag_smoothquant: this transform has no diag scale");
  FQ_CHECK(weight_col_absmax.numel() == size() && act_col_absmax.numel() == size(),
           "init_diag_smoothquant: statistics of size ", weight_col_absmax.numel(), "/", act_col_absmax.numel(),
           " for a transform of size ", size());
  at::NoGradGuard no_grad;
  at::Tensor w = weight_col_absmax.to(diag_.options()).reshape({-1});
  at::Tensor x = act_col_absmax.to(diag_.options()).reshape({-1});
  diag_.copy_((w.pow(1.0 - alpha) / x.pow(alpha)).clamp_min(1e-5));
}

std::vector<at::Tensor> AffineTransform::transform_parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& f : factors_) {
    for (const auto& p : f.parameters()) out.push_back(p);
  }
  return out;
}

std::vector<at::Tensor> AffineTransform::diag_parameters() const {
  if (!diag_.defined()) return {};
  return {diag_};
}

std::vector<std::pair<std::string, at::Tensor>> AffineTransform::named_parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  const char* names[] = {"left", "right"};
  for (size_t i = 0; i < factors_.size(); ++i) {
    const std::string prefix = factors_.size() == 2 ? names[i] : "matrix";
    for (auto& [name, t] : factors_[i].named_parameters()) out.emplace_back(prefix + "." + name, t);
  }
  if (diag_.defined()) out.emplace_back("diag", diag_);
  return out;
}

}  // namespace fq::quant
