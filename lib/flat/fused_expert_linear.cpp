#include "lib/flat/fused_expert_linear.h"

#include <torch/autograd.h>

#include "lib/core/error.h"
#include "lib/quant/affine_transform.h"
#include "lib/quant/clipped_weight_quant.h"
#include "lib/quant/fake_quant.h"
#include "lib/quant/learnable_clip.h"

namespace fq::flat {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// a^T X b for each expert: w [Ec, rows, n1 * n2], a [Ec, n1, n1], b [Ec, n2, n2].
at::Tensor kronecker_apply_per_expert(const at::Tensor& w, const at::Tensor& a, const at::Tensor& b) {
  const int64_t e = w.size(0), rows = w.size(1), n1 = a.size(-1), n2 = b.size(-1);
  at::Tensor v = at::bmm(w.reshape({e, rows * n1, n2}), b.to(w.scalar_type()));
  v = at::bmm(v.view({e, rows, n1, n2}).transpose(2, 3).reshape({e, rows * n2, n1}), a.to(w.scalar_type()));
  return v.view({e, rows, n2, n1}).transpose(2, 3).reshape(w.sizes());
}

at::Tensor slice_experts(const at::Tensor& t, int64_t e0, int64_t n, int64_t stacked_dims) {
  return t.defined() && t.dim() == stacked_dims ? t.narrow(0, e0, n) : t;
}

std::vector<int64_t> row_offsets(const std::vector<int64_t>& counts) {
  std::vector<int64_t> offsets(counts.size() + 1, 0);
  for (size_t e = 0; e < counts.size(); ++e) offsets[e + 1] = offsets[e] + counts[e];
  return offsets;
}

struct FusedExpertLinear : public torch::autograd::Function<FusedExpertLinear> {
  static variable_list forward(AutogradContext* ctx, at::Tensor xq, at::Tensor weight, at::Tensor left_inv_t,
                               at::Tensor right_inv_t, at::Tensor diag, at::Tensor clip_max, at::Tensor clip_min,
                               std::vector<int64_t> counts, int64_t bits, bool symmetric, int64_t chunk) {
    ctx->save_for_backward({xq, weight, left_inv_t, right_inv_t, diag, clip_max, clip_min});
    auto present = [](const at::Tensor& x) { return x.numel() > 0 ? x : at::Tensor(); };
    ctx->saved_data["counts"] = counts;
    ctx->saved_data["bits"] = bits;
    ctx->saved_data["symmetric"] = symmetric;
    ctx->saved_data["chunk"] = chunk;
    const ExpertWeightTransform t{present(left_inv_t), present(right_inv_t), present(diag), present(clip_max),
                                  present(clip_min), {static_cast<int>(bits), symmetric, 0}};
    const std::vector<int64_t> offsets = row_offsets(counts);
    const int64_t experts = static_cast<int64_t>(counts.size());
    at::Tensor y = at::empty({xq.size(0), weight.size(1)}, xq.options());
    for (int64_t e0 = 0; e0 < experts; e0 += chunk) {
      const int64_t n = std::min(chunk, experts - e0);
      if (offsets[e0 + n] == offsets[e0]) continue;  // no rows for this chunk's experts
      const at::Tensor wq = transform_expert_weights(weight.narrow(0, e0, n), e0, t).to(xq.scalar_type());
      for (int64_t e = e0; e < e0 + n; ++e) {
        if (counts[e] == 0) continue;
        y.narrow(0, offsets[e], counts[e]).copy_(at::matmul(xq.narrow(0, offsets[e], counts[e]), wq[e - e0].t()));
      }
    }
    return {y};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &xq = saved[0], &weight = saved[1];
    const std::vector<int64_t> counts = ctx->saved_data["counts"].toIntVector();
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const quant::QuantSpec spec{static_cast<int>(ctx->saved_data["bits"].toInt()),
                                ctx->saved_data["symmetric"].toBool(), 0};
    const at::Tensor grad_y = grad_outputs[0].contiguous();
    const std::vector<int64_t> offsets = row_offsets(counts);
    const int64_t experts = static_cast<int64_t>(counts.size());

    // Leaves standing for the transform tensors, so that one local graph per chunk yields their gradients.
    std::vector<at::Tensor> leaves, grads;
    auto leaf = [&](const at::Tensor& t) {
      if (t.numel() == 0) return at::Tensor();
      at::Tensor l = t.detach().requires_grad_(true);
      leaves.push_back(l);
      grads.push_back(at::zeros_like(t));
      return l;
    };
    const ExpertWeightTransform t{leaf(saved[2]), leaf(saved[3]), leaf(saved[4]), leaf(saved[5]), leaf(saved[6]), spec};
    at::Tensor grad_x = at::zeros_like(xq);
    for (int64_t e0 = 0; e0 < experts; e0 += chunk) {
      const int64_t n = std::min(chunk, experts - e0);
      if (offsets[e0 + n] == offsets[e0]) continue;
      at::Tensor wq;
      {
        at::AutoGradMode enable(true);
        wq = transform_expert_weights(weight.narrow(0, e0, n), e0, t);
      }
      const at::Tensor wq_compute = wq.detach().to(xq.scalar_type());
      at::Tensor grad_wq = at::zeros_like(wq);
      for (int64_t e = e0; e < e0 + n; ++e) {
        if (counts[e] == 0) continue;
        const at::Tensor dy = grad_y.narrow(0, offsets[e], counts[e]);
        grad_x.narrow(0, offsets[e], counts[e]).copy_(at::matmul(dy, wq_compute[e - e0]));
        grad_wq[e - e0].copy_(at::matmul(dy.t(), xq.narrow(0, offsets[e], counts[e])).to(wq.scalar_type()));
      }
      if (leaves.empty()) continue;
      const variable_list g = torch::autograd::grad({wq}, leaves, {grad_wq}, /*retain_graph=*/false,
                                                    /*create_graph=*/false, /*allow_unused=*/true);
      for (size_t i = 0; i < g.size(); ++i) {
        if (g[i].defined()) grads[i].add_(g[i]);
      }
    }
    // Gradients in the order of forward's inputs: xq, weight, left, right, diag, clip_max, clip_min, then
    // none for the non-tensor arguments.
    variable_list out{grad_x, at::Tensor()};
    size_t k = 0;
    for (int i = 2; i <= 6; ++i) out.push_back(saved[i].numel() > 0 ? grads[k++] : at::Tensor());
    for (int i = 0; i < 4; ++i) out.emplace_back();
    return out;
  }
};

}  // namespace

at::Tensor transform_expert_weights(const at::Tensor& w_chunk, int64_t e0, const ExpertWeightTransform& t) {
  const int64_t n = w_chunk.size(0);
  at::Tensor w = w_chunk;
  if (t.right_inv_t.defined()) {
    at::Tensor diag = slice_experts(t.diag, e0, n, 2);
    if (diag.defined()) w = w / (diag.dim() == 2 ? diag.unsqueeze(1) : diag).to(w.scalar_type());
    const bool per_expert = t.right_inv_t.dim() == 3;
    if (per_expert) {
      w = kronecker_apply_per_expert(w, slice_experts(t.left_inv_t, e0, n, 3), slice_experts(t.right_inv_t, e0, n, 3));
    } else {
      w = quant::kronecker_apply(w, t.left_inv_t, t.right_inv_t);
    }
  }
  quant::ClipFactors clip;
  if (t.clip_max_logit.defined()) {
    clip = {at::sigmoid(t.clip_max_logit.narrow(0, e0, n)), at::sigmoid(t.clip_min_logit.narrow(0, e0, n))};
  }
  return quant::clip_and_fake_quantize_weight(w, clip, t.spec);
}

at::Tensor fused_expert_linear(const at::Tensor& xq_sorted, const std::vector<int64_t>& counts,
                               const at::Tensor& stacked_weight, const ExpertWeightTransform& t,
                               int64_t chunk_experts) {
  FQ_CHECK(static_cast<int64_t>(counts.size()) == stacked_weight.size(0), "fused expert linear: ", counts.size(),
           " expert row counts for ", stacked_weight.size(0), " experts");
  FQ_CHECK(chunk_experts >= 1, "fused expert linear: chunk must be >= 1");
  // Custom autograd functions take defined tensors only: absent parts travel as empty tensors.
  auto or_empty = [&](const at::Tensor& x) { return x.defined() ? x : at::empty({0}, xq_sorted.options()); };
  return FusedExpertLinear::apply(xq_sorted, stacked_weight, or_empty(t.left_inv_t), or_empty(t.right_inv_t),
                                  or_empty(t.diag), or_empty(t.clip_max_logit), or_empty(t.clip_min_logit), counts,
                                  static_cast<int64_t>(t.spec.bits), t.spec.symmetric, chunk_experts)[0];
}

}  // namespace fq::flat
