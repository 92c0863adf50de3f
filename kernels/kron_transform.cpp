#include "kernels/kron_transform.h"

#include "kernels/shape_checks.h"
#include "lib/core/error.h"

namespace fq::kernels {

KronDims check_kron_transform(const KronTransform& t, int64_t n, const at::Tensor& x, const char* op) {
  KronDims dims;
  if (t.left.defined()) {
    check_rank(t.left, 2, op, "left (L)");
    dims.n1 = t.left.size(0);
    check_shape(t.left, {dims.n1, dims.n1}, at::kFloat, op, "left (L)");
    check_same_device(t.left, x, op, "left (L)", "x");
  }
  if (t.right.defined()) {
    check_rank(t.right, 2, op, "right (R)");
    dims.n2 = t.right.size(0);
    check_shape(t.right, {dims.n2, dims.n2}, at::kFloat, op, "right (R)");
    check_same_device(t.right, x, op, "right (R)", "x");
  }
  if (!t.left.defined()) dims.n1 = n / dims.n2;
  if (!t.right.defined()) dims.n2 = n / dims.n1;
  FQ_CHECK(dims.n1 * dims.n2 == n, op, ": Kronecker factors L [", dims.n1, ", ", dims.n1, "] and R [", dims.n2, ", ",
           dims.n2, "] do not match the row length ", n, " of tensor 'x' (n1 * n2 = ", dims.n1 * dims.n2, ")");
  if (t.diag.defined()) {
    check_shape(t.diag, {n}, at::kFloat, op, "diag (d)");
    check_same_device(t.diag, x, op, "diag (d)", "x");
  }
  return dims;
}

}  // namespace fq::kernels
