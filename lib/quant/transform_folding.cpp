#include "lib/quant/transform_folding.h"

#include <ATen/ATen.h>

#include "lib/core/error.h"
#include "lib/quant/learnable_clip.h"

namespace fq::quant {

at::Tensor fold_weight(const at::Tensor& w, const TransformMatrices& frozen, const ClipFactors& clip) {
  at::Tensor out = frozen.apply_inverse_transpose(w.to(at::kDouble));
  if (clip.max.defined()) out = clip_rows(out, {clip.max.to(at::kDouble), clip.min.to(at::kDouble)});
  return out;
}

at::Tensor fold_output_transform(const at::Tensor& w, const at::Tensor& m) {
  const int64_t block = m.size(0);
  FQ_CHECK(w.size(0) % block == 0, "output transform of size ", block, " does not divide ", w.size(0), " rows");
  at::Tensor w64 = w.to(at::kDouble).reshape({w.size(0) / block, block, -1});
  return at::matmul(m.to(at::kDouble).transpose(0, 1), w64).reshape(w.sizes());
}

at::Tensor fold_scale_into_norm(const at::Tensor& norm_weight, const at::Tensor& diag) {
  FQ_CHECK(norm_weight.numel() == diag.numel(), "diag scale of size ", diag.numel(), " folded into a norm of size ",
           norm_weight.numel());
  return norm_weight.to(at::kDouble) * diag.to(at::kDouble);
}

at::Tensor fold_scale_into_rows(const at::Tensor& w_prev, const at::Tensor& diag) {
  FQ_CHECK(w_prev.size(-2) == diag.numel(), "diag scale of size ", diag.numel(), " folded into ", w_prev.size(-2),
           " rows");
  return w_prev.to(at::kDouble) * diag.to(at::kDouble).unsqueeze(-1);
}

}  // namespace fq::quant
