#include "kernels/int4_weight.h"

#include <ATen/ATen.h>

#include "kernels/int4_pack.h"
#include "kernels/shape_checks.h"
#include "lib/core/error.h"

namespace fq::kernels {

Int4Weight make_int4_weight(const at::Tensor& codes, const at::Tensor& scale) {
  FQ_CHECK(codes.defined() && (codes.dim() == 2 || codes.dim() == 3), "make_int4_weight: tensor 'codes' must be ",
           "[N, K] or [E, N, K], got ", codes.defined() ? codes.sizes() : at::IntArrayRef{});
  Int4Weight w;
  w.in_features = codes.size(-1);
  w.packed = pack_int4(codes, /*symmetric=*/true, "codes");
  w.scale = scale.contiguous();
  w.rowsum = codes.to(at::kInt).sum(at::IntArrayRef{-1}, /*keepdim=*/false, at::kInt).contiguous();
  check_int4_weight(w, "make_int4_weight");
  return w;
}

void check_int4_weight(const Int4Weight& w, const char* op) {
  FQ_CHECK(w.packed.defined() && (w.packed.dim() == 2 || w.packed.dim() == 3), op, ": tensor 'weight.packed' must ",
           "be [N, K/2] or [E, N, K/2]");
  FQ_CHECK(w.in_features > 0 && w.in_features % 2 == 0, op, ": weight in_features must be positive and even, got ",
           w.in_features);
  const int64_t n = w.out_features();
  if (w.stacked()) {
    const int64_t e = w.experts();
    check_shape(w.packed, {e, n, w.in_features / 2}, at::kByte, op, "weight.packed");
    check_shape(w.scale, {e, n}, at::kFloat, op, "weight.scale");
    check_shape(w.rowsum, {e, n}, at::kInt, op, "weight.rowsum");
  } else {
    check_shape(w.packed, {n, w.in_features / 2}, at::kByte, op, "weight.packed");
    check_shape(w.scale, {n}, at::kFloat, op, "weight.scale");
    check_shape(w.rowsum, {n}, at::kInt, op, "weight.rowsum");
  }
  check_same_device(w.scale, w.packed, op, "weight.scale", "weight.packed");
  check_same_device(w.rowsum, w.packed, op, "weight.rowsum", "weight.packed");
  FQ_CHECK(w.packed.is_contiguous() && w.scale.is_contiguous() && w.rowsum.is_contiguous(), op,
           ": the weight tensors must be contiguous");
}

}  // namespace fq::kernels
