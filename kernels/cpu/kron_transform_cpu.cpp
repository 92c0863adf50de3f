#include "kernels/cpu/kron_transform_cpu.h"

#include <ATen/ATen.h>

#include "kernels/shape_checks.h"

namespace fq::kernels {
namespace {

// Products of bf16 values are exact in float32, so this reproduces the fused kernel up to the order of
// its float32 sums.
at::Tensor round_bf16(const at::Tensor& t) { return t.to(at::kBFloat16).to(at::kFloat); }

}  // namespace

at::Tensor kron_transform_ref(const at::Tensor& x, const KronTransform& t, TransformPrecision precision) {
  check_rank(x, 2, "kron_transform_ref", "x");
  const int64_t rows = x.size(0);
  const int64_t n = x.size(1);
  const KronDims dims = check_kron_transform(t, n, x, "kron_transform_ref");
  const bool bf16 = precision == TransformPrecision::kBf16;
  at::Tensor y = x.to(at::kFloat);
  if (t.diag.defined()) y = y * t.diag;
  y = y.reshape({rows, dims.n1, dims.n2});
  if (bf16) y = round_bf16(y);
  if (t.left.defined()) {
    const at::Tensor left_t = (bf16 ? round_bf16(t.left) : t.left).t();
    y = at::matmul(left_t, y);  // [n1, n1] @ [rows, n1, n2], batched over rows
    if (bf16 && t.right.defined()) y = round_bf16(y);
  }
  if (t.right.defined()) y = at::matmul(y, bf16 ? round_bf16(t.right) : t.right);
  return y.reshape({rows, n}).contiguous();
}

}  // namespace fq::kernels
