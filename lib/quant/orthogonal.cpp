#include "lib/quant/orthogonal.h"

#include <ATen/ATen.h>

namespace fq::quant {

at::Tensor random_orthogonal(int64_t n, at::Generator& gen) {
  at::Tensor g = at::randn({n, n}, gen, at::TensorOptions().dtype(at::kDouble));
  auto [q, r] = at::linalg_qr(g);
  at::Tensor signs = at::sign(r.diagonal());
  signs = at::where(signs == 0, at::ones_like(signs), signs);
  return q * signs.unsqueeze(0);
}

at::Tensor cayley(const at::Tensor& free) {
  at::Tensor lower = free.tril();
  at::Tensor a = lower - lower.transpose(0, 1);
  at::Tensor eye = at::eye(free.size(0), free.options());
  return at::linalg_solve(eye - 0.5 * a, eye + 0.5 * a);
}

}  // namespace fq::quant
