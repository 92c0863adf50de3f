#include "lib/quant/clipped_weight_quant.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <vector>

#include "kernels/weight_clip_quant_ops.h"
#include "lib/quant/learnable_clip.h"

namespace fq::quant {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The fused kernels as one autograd node. Absent clip factors travel as empty tensors.
struct FusedClipQuant : public torch::autograd::Function<FusedClipQuant> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor w, at::Tensor clip_max, at::Tensor clip_min, int64_t bits,
                            bool symmetric) {
    ctx->save_for_backward({w, clip_max, clip_min});
    ctx->saved_data["bits"] = bits;
    ctx->saved_data["symmetric"] = symmetric;
    const kernels::WeightQuantRule rule{static_cast<int>(bits), symmetric};
    const at::Tensor rows = w.reshape({-1, w.size(-1)});
    return kernels::weight_clip_fake_quant(rows, flat_factors(clip_max), flat_factors(clip_min), rule)
        .view(w.sizes());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &w = saved[0], &clip_max = saved[1], &clip_min = saved[2];
    const kernels::WeightQuantRule rule{static_cast<int>(ctx->saved_data["bits"].toInt()),
                                        ctx->saved_data["symmetric"].toBool()};
    const kernels::WeightClipQuantGrads g = kernels::weight_clip_fake_quant_backward(
        grad_outputs[0].reshape({-1, w.size(-1)}), w.reshape({-1, w.size(-1)}), flat_factors(clip_max),
        flat_factors(clip_min), rule);
    variable_list out{g.w.view(w.sizes()), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    if (clip_max.numel() > 0) {
      out[1] = g.clip_max.view(clip_max.sizes());
      out[2] = g.clip_min.view(clip_min.sizes());
    }
    return out;
  }

  // [..., 1] factors as the kernels' [rows]; empty (no LWC) as undefined.
  static at::Tensor flat_factors(const at::Tensor& f) { return f.numel() > 0 ? f.reshape({-1}) : at::Tensor(); }
};

}  // namespace

bool fused_weight_quant_applies(const at::Tensor& w, const QuantSpec& spec) {
  return w.is_cuda() && spec.enabled() && (spec.group_size == 0 || spec.group_size == w.size(-1)) &&
         kernels::weight_clip_fake_quant_cuda_supported(w.reshape({-1, w.size(-1)}));
}

at::Tensor clip_and_fake_quantize_weight(const at::Tensor& w, const ClipFactors& clip, const QuantSpec& spec) {
  if (!spec.enabled()) return clip.max.defined() ? clip_rows(w, clip) : w;
  if (!fused_weight_quant_applies(w, spec)) return fake_quantize_weight(clip.max.defined() ? clip_rows(w, clip) : w, spec);
  // One factor per row: [..., 1] as w's rows (broadcast factors are expanded; autograd sums them back).
  std::vector<int64_t> factor_shape = w.sizes().vec();
  factor_shape.back() = 1;
  auto or_empty = [&](const at::Tensor& t) {
    return t.defined() ? t.expand(factor_shape) : at::empty({0}, w.options().dtype(at::kFloat));
  };
  return FusedClipQuant::apply(w, or_empty(clip.max), or_empty(clip.min), static_cast<int64_t>(spec.bits),
                               spec.symmetric);
}

}  // namespace fq::quant
