#include "lib/quant/fake_quant.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <limits>

#include "lib/core/error.h"

namespace fq::quant {
namespace {

// Views x as [rows, width] where width is the group size (or the whole last dim). Reduced-precision
// inputs are upcast: scales and rounding are computed in float32 (as the reference's do under autocast,
// where the float32 clipping factors promote them), then results are cast back to the input type.
at::Tensor as_groups(const at::Tensor& x, const QuantSpec& spec) {
  const int64_t last = x.size(-1);
  const int64_t width = spec.group_size > 0 ? spec.group_size : last;
  FQ_CHECK(last % width == 0, "quantizer: group size ", width, " does not divide the last dimension ", last);
  at::Tensor rows = x.reshape({-1, width});
  if (rows.scalar_type() == at::kBFloat16 || rows.scalar_type() == at::kHalf) rows = rows.to(at::kFloat);
  return rows;
}

QuantParams params_from_range(at::Tensor xmax, at::Tensor xmin, const QuantSpec& spec, bool weight_rule) {
  const double maxq = static_cast<double>(spec.max_code());
  QuantParams p;
  if (spec.symmetric) {
    at::Tensor amax = at::maximum(xmin.abs(), xmax);
    if (weight_rule) {
      p.scale = amax.clamp_min(1e-5) / maxq;
    } else {
      // A zero row gets scale 1: its codes are 0 either way, and 1 keeps the division finite.
      p.scale = at::where(amax == 0, at::ones_like(amax), amax / maxq);
    }
    p.zero = at::zeros_like(p.scale);
  } else {
    at::Tensor both_zero = (xmin == 0).logical_and(xmax == 0);
    xmin = at::where(both_zero, at::full_like(xmin, -1.0), xmin);
    xmax = at::where(both_zero, at::full_like(xmax, 1.0), xmax);
    at::Tensor range = xmax - xmin;
    p.scale = (weight_rule ? range.clamp_min(1e-5) : range) / maxq;
    p.zero = at::round(-xmin / p.scale).detach();
  }
  return p;
}

}  // namespace

at::Tensor round_ste(const at::Tensor& x) { return (at::round(x) - x).detach() + x; }

QuantParams activation_quant_params(const at::Tensor& x, const QuantSpec& spec, const ClipFactors& clip) {
  at::Tensor rows = as_groups(x, spec);
  at::Tensor xmax = std::get<0>(rows.max(1, /*keepdim=*/true)).clamp_min(0);
  at::Tensor xmin = std::get<0>(rows.min(1, /*keepdim=*/true)).clamp_max(0);
  if (clip.max.defined()) xmax = xmax * clip.max;
  if (clip.min.defined()) xmin = xmin * clip.min;
  return params_from_range(xmax, xmin, spec, /*weight_rule=*/false);
}

QuantParams weight_quant_params(const at::Tensor& w, const QuantSpec& spec) {
  at::Tensor rows = as_groups(w, spec);
  at::Tensor xmax = std::get<0>(rows.max(1, true)).clamp_min(0);
  at::Tensor xmin = std::get<0>(rows.min(1, true)).clamp_max(0);
  return params_from_range(xmax, xmin, spec, /*weight_rule=*/true);
}

QuantParams weight_quant_params_mse(const at::Tensor& w, const QuantSpec& spec, int grid, double maxshrink,
                                    double norm) {
  FQ_CHECK(grid > 0 && maxshrink > 0 && maxshrink <= 1, "MSE weight quantizer: invalid grid ", grid,
           " or maxshrink ", maxshrink);
  at::NoGradGuard no_grad;
  at::Tensor rows = as_groups(w, spec);
  at::Tensor xmax = std::get<0>(rows.max(1, true)).clamp_min(0);
  at::Tensor xmin = std::get<0>(rows.min(1, true)).clamp_max(0);
  QuantParams best = params_from_range(xmax, xmin, spec, true);
  at::Tensor best_err = at::full({rows.size(0), 1}, std::numeric_limits<double>::infinity(), rows.options());
  const int steps = static_cast<int>(maxshrink * grid);
  for (int i = 0; i < steps; ++i) {
    const double p = 1.0 - static_cast<double>(i) / grid;
    QuantParams cand = params_from_range(xmax * p, xmin * p, spec, true);
    at::Tensor err = (fake_quantize(rows, cand, spec) - rows).abs().pow(norm).sum(1, true);
    at::Tensor better = err < best_err;
    best_err = at::where(better, err, best_err);
    best.scale = at::where(better, cand.scale, best.scale);
    best.zero = at::where(better, cand.zero, best.zero);
  }
  return best;
}

at::Tensor fake_quantize(const at::Tensor& x, const QuantParams& params, const QuantSpec& spec) {
  at::Tensor rows = as_groups(x, spec);
  const double lo = static_cast<double>(spec.min_code());
  const double hi = static_cast<double>(spec.max_code());
  at::Tensor out;
  if (spec.symmetric) {
    out = at::clamp(round_ste(rows / params.scale), lo, hi) * params.scale;
  } else {
    out = (at::clamp(round_ste(rows / params.scale) + params.zero, lo, hi) - params.zero) * params.scale;
  }
  return out.reshape(x.sizes()).to(x.scalar_type());
}

at::Tensor fake_quantize_no_grad(const at::Tensor& x, const QuantParams& params, const QuantSpec& spec) {
  at::NoGradGuard no_grad;
  const at::Tensor rows = as_groups(x, spec);
  FQ_CHECK(rows.scalar_type() == x.scalar_type(), "fake_quantize_no_grad: float32 or float64 input, got ",
           x.scalar_type());
  at::Tensor out = rows / params.scale;
  out.round_();
  if (!spec.symmetric) out.add_(params.zero);
  out.clamp_(static_cast<double>(spec.min_code()), static_cast<double>(spec.max_code()));
  if (!spec.symmetric) out.sub_(params.zero);
  out.mul_(params.scale);
  return out.reshape(x.sizes());
}

at::Tensor quantize_codes(const at::Tensor& x, const QuantParams& params, const QuantSpec& spec) {
  at::Tensor rows = as_groups(x, spec);
  at::Tensor q = at::round(rows / params.scale);
  if (!spec.symmetric) q = q + params.zero;
  q = at::clamp(q, static_cast<double>(spec.min_code()), static_cast<double>(spec.max_code()));
  return q.reshape(x.sizes()).to(spec.symmetric ? at::kChar : at::kByte);
}

at::Tensor dequantize_codes(const at::Tensor& codes, const QuantParams& params, const QuantSpec& spec) {
  at::Tensor rows = as_groups(codes, spec).to(params.scale.scalar_type());
  at::Tensor out = spec.symmetric ? rows * params.scale : (rows - params.zero) * params.scale;
  return out.reshape(codes.sizes());
}

namespace {

at::Tensor fake_quantize_activation_graph(const at::Tensor& x, const QuantSpec& spec, const ClipFactors& clip) {
  return fake_quantize(x, activation_quant_params(x, spec, clip), spec);
}

// The activation quantizer as one autograd node that saves only its inputs and recomputes its float32
// intermediates in backward: the same values and gradients as the plain graph (the same ops run), without
// keeping four float32 copies of every quantized activation alive until backward — for a MoE layer's
// routed-expert inputs ([tokens * top_k, hidden]) that is most of the calibration step's memory.
struct RecomputedActivationQuant : public torch::autograd::Function<RecomputedActivationQuant> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor x, at::Tensor clip_max,
                            at::Tensor clip_min, int64_t bits, bool symmetric, int64_t group_size) {
    ctx->save_for_backward({x, clip_max, clip_min});
    ctx->saved_data["bits"] = bits;
    ctx->saved_data["symmetric"] = symmetric;
    ctx->saved_data["group_size"] = group_size;
    const QuantSpec spec{static_cast<int>(bits), symmetric, group_size};
    auto present = [](const at::Tensor& t) { return t.numel() > 0 ? t : at::Tensor(); };
    return fake_quantize_activation_graph(x, spec, {present(clip_max), present(clip_min)});
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const QuantSpec spec{static_cast<int>(ctx->saved_data["bits"].toInt()), ctx->saved_data["symmetric"].toBool(),
                         ctx->saved_data["group_size"].toInt()};
    std::vector<at::Tensor> leaves;
    std::vector<int> which;  // forward input index of each leaf
    auto leaf = [&](int i) {
      if (saved[i].numel() == 0 || !ctx->needs_input_grad(i)) return saved[i].numel() > 0 ? saved[i] : at::Tensor();
      at::Tensor l = saved[i].detach().requires_grad_(true);
      leaves.push_back(l);
      which.push_back(i);
      return l;
    };
    at::AutoGradMode enable(true);
    const at::Tensor x = leaf(0);
    const ClipFactors clip{leaf(1), leaf(2)};
    torch::autograd::variable_list out(6);
    if (leaves.empty()) return out;
    const at::Tensor y = fake_quantize_activation_graph(x, spec, clip);
    const auto grads = torch::autograd::grad({y}, leaves, {grad_outputs[0]}, /*retain_graph=*/false,
                                             /*create_graph=*/false, /*allow_unused=*/true);
    for (size_t k = 0; k < leaves.size(); ++k) out[which[k]] = grads[k];
    return out;
  }
};

}  // namespace

at::Tensor fake_quantize_activation(const at::Tensor& x, const QuantSpec& spec, const ClipFactors& clip) {
  if (!spec.enabled()) return x;
  const bool needs_graph = at::GradMode::is_enabled() &&
                           (x.requires_grad() || (clip.max.defined() && clip.max.requires_grad()) ||
                            (clip.min.defined() && clip.min.requires_grad()));
  if (!needs_graph) return fake_quantize_activation_graph(x, spec, clip);
  auto or_empty = [&](const at::Tensor& t) { return t.defined() ? t : at::empty({0}, x.options()); };
  return RecomputedActivationQuant::apply(x, or_empty(clip.max), or_empty(clip.min), static_cast<int64_t>(spec.bits),
                                          spec.symmetric, spec.group_size);
}

at::Tensor fake_quantize_weight(const at::Tensor& w, const QuantSpec& spec) {
  if (!spec.enabled()) return w;
  return fake_quantize(w, weight_quant_params(w, spec), spec);
}

}  // namespace fq::quant
