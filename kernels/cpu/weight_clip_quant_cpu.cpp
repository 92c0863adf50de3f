#include "kernels/cpu/weight_clip_quant_cpu.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <limits>

#include "kernels/shape_checks.h"
#include "lib/core/error.h"

namespace fq::kernels {
namespace {

// The row's max and min and their first indices.
template <typename F>
struct RowExtremes {
  F max, min;
  int64_t argmax = 0, argmin = 0;
};

template <typename F>
RowExtremes<F> row_extremes(const F* row, int64_t k) {
  RowExtremes<F> e{row[0], row[0]};
  for (int64_t j = 1; j < k; ++j) {
    if (row[j] > e.max) e.max = row[j], e.argmax = j;
    if (row[j] < e.min) e.min = row[j], e.argmin = j;
  }
  return e;
}

// Rounds a compute-precision value as a tensor of w's dtype would store it.
template <typename F>
F to_storage(F x, at::ScalarType storage) {
  return storage == at::kBFloat16 ? static_cast<F>(static_cast<float>(c10::BFloat16(static_cast<float>(x)))) : x;
}

// The row's quantizer and the clip factors as the forward uses them.
template <typename F>
struct RowSetup {
  RowExtremes<F> extremes;
  F clip_max = 1, clip_min = 1;
  WeightRowQuant<F> quant;
};

template <typename F>
RowSetup<F> row_setup(const F* row, int64_t k, const F* clip_max, const F* clip_min, int64_t r,
                      at::ScalarType storage, const WeightQuantRule& rule) {
  RowSetup<F> s;
  s.extremes = row_extremes(row, k);
  F lo = -std::numeric_limits<F>::infinity(), hi = std::numeric_limits<F>::infinity();
  if (clip_max) {
    s.clip_max = to_storage(clip_max[r], storage);
    s.clip_min = to_storage(clip_min[r], storage);
    hi = to_storage(s.extremes.max * s.clip_max, storage);
    lo = to_storage(s.extremes.min * s.clip_min, storage);
  }
  s.quant = weight_row_quant(s.extremes.max, s.extremes.min, lo, hi, rule);
  return s;
}

void check_inputs(const at::Tensor& w, const at::Tensor& clip_max, const at::Tensor& clip_min,
                  const WeightQuantRule& rule, const char* op) {
  check_weight_quant_rule(rule, op);
  check_rank(w, 2, op, "w");
  FQ_CHECK(w.device().is_cpu(), op, ": tensor 'w' must be on the CPU, got ", w.device());
  FQ_CHECK(w.size(1) > 0, op, ": tensor 'w' has empty rows");
  const at::ScalarType t = w.scalar_type();
  FQ_CHECK(t == at::kDouble || t == at::kFloat || t == at::kBFloat16, op,
           ": tensor 'w' must be float64, float32 or bfloat16, got ", t);
  FQ_CHECK(clip_max.defined() == clip_min.defined(), op, ": clip_max and clip_min must both be given or neither");
  if (clip_max.defined()) {
    check_shape(clip_max, {w.size(0)}, clip_max.scalar_type(), op, "clip_max");
    check_shape(clip_min, {w.size(0)}, clip_min.scalar_type(), op, "clip_min");
  }
}

at::ScalarType compute_type(const at::Tensor& w) { return w.scalar_type() == at::kDouble ? at::kDouble : at::kFloat; }

at::Tensor as_compute(const at::Tensor& t, at::ScalarType type) {
  return t.defined() ? t.to(type).contiguous() : t;
}

template <typename F>
const F* data_or_null(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<F>() : nullptr;
}

template <typename F>
at::Tensor forward_rows(const at::Tensor& w, const at::Tensor& clip_max, const at::Tensor& clip_min,
                        const WeightQuantRule& rule) {
  const at::ScalarType ct = compute_type(w);
  const at::Tensor wf = as_compute(w, ct), cM = as_compute(clip_max, ct), cm = as_compute(clip_min, ct);
  at::Tensor out = at::empty_like(wf);
  const int64_t k = wf.size(1);
  const F* src = wf.data_ptr<F>();
  F* dst = out.data_ptr<F>();
  at::parallel_for(0, wf.size(0), 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const RowSetup<F> s = row_setup(src + r * k, k, data_or_null<F>(cM), data_or_null<F>(cm), r,
                                      w.scalar_type(), rule);
      for (int64_t j = 0; j < k; ++j) dst[r * k + j] = fake_quant_weight_value(src[r * k + j], s.quant);
    }
  });
  return out.to(w.scalar_type());
}

template <typename F>
WeightClipQuantGrads backward_rows(const at::Tensor& grad_out, const at::Tensor& w, const at::Tensor& clip_max,
                                   const at::Tensor& clip_min, const WeightQuantRule& rule) {
  const at::ScalarType ct = compute_type(w);
  const at::Tensor wf = as_compute(w, ct), gf = as_compute(grad_out, ct);
  const at::Tensor cM = as_compute(clip_max, ct), cm = as_compute(clip_min, ct);
  const int64_t rows = wf.size(0), k = wf.size(1);
  at::Tensor grad_w = at::empty_like(wf);
  at::Tensor grad_cM = at::zeros({rows}, wf.options()), grad_cm = at::zeros({rows}, wf.options());
  const F* src = wf.data_ptr<F>();
  const F* g = gf.data_ptr<F>();
  F* gw = grad_w.data_ptr<F>();
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const F* row = src + r * k;
      const RowSetup<F> s = row_setup(row, k, data_or_null<F>(cM), data_or_null<F>(cm), r, w.scalar_type(), rule);
      const WeightRowQuant<F>& p = s.quant;
      F grad_scale = 0, grad_below = 0, grad_above = 0;
      for (int64_t j = 0; j < k; ++j) {
        const WeightElementGrad<F> e = weight_element_grad(row[j], g[r * k + j], p);
        grad_scale += e.grad_scale;
        if (row[j] < p.lo) grad_below += e.grad_wc;
        else if (row[j] > p.hi) grad_above += e.grad_wc;
        gw[r * k + j] = row[j] < p.lo || row[j] > p.hi ? F(0) : e.grad_wc;
      }
      const WeightBoundGrad<F> b =
          weight_bound_grad(s.extremes.max, s.extremes.min, s.clip_max, s.clip_min, grad_below, grad_above,
                            weight_range_grad(grad_scale, p), p);
      gw[r * k + s.extremes.argmax] += b.to_argmax;
      gw[r * k + s.extremes.argmin] += b.to_argmin;
      if (cM.defined()) {
        grad_cM.data_ptr<F>()[r] = b.grad_clip_max;
        grad_cm.data_ptr<F>()[r] = b.grad_clip_min;
      }
    }
  });
  WeightClipQuantGrads out{grad_w.to(w.scalar_type()), at::Tensor(), at::Tensor()};
  if (clip_max.defined()) {
    out.clip_max = grad_cM.to(clip_max.scalar_type());
    out.clip_min = grad_cm.to(clip_min.scalar_type());
  }
  return out;
}

}  // namespace

at::Tensor weight_clip_fake_quant_cpu(const at::Tensor& w, const at::Tensor& clip_max, const at::Tensor& clip_min,
                                      const WeightQuantRule& rule) {
  check_inputs(w, clip_max, clip_min, rule, "weight_clip_fake_quant_cpu");
  return w.scalar_type() == at::kDouble ? forward_rows<double>(w, clip_max, clip_min, rule)
                                        : forward_rows<float>(w, clip_max, clip_min, rule);
}

WeightClipQuantGrads weight_clip_fake_quant_backward_cpu(const at::Tensor& grad_out, const at::Tensor& w,
                                                         const at::Tensor& clip_max, const at::Tensor& clip_min,
                                                         const WeightQuantRule& rule) {
  const char* op = "weight_clip_fake_quant_backward_cpu";
  check_inputs(w, clip_max, clip_min, rule, op);
  FQ_CHECK(grad_out.sizes() == w.sizes(), op, ": tensor 'grad_out' has shape ", grad_out.sizes(), ", expected ",
           w.sizes());
  return w.scalar_type() == at::kDouble ? backward_rows<double>(grad_out, w, clip_max, clip_min, rule)
                                        : backward_rows<float>(grad_out, w, clip_max, clip_min, rule);
}

}  // namespace fq::kernels
