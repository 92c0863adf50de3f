#include "kernels/cpu/per_token_quant_cpu.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "kernels/shape_checks.h"
#include "lib/core/error.h"

namespace fq::kernels {

QuantizedCodes quantize_rows_cpu(const at::Tensor& y, const TokenQuantConfig& cfg) {
  check_token_quant_config(cfg, "quantize_rows_cpu");
  check_rank(y, 2, "quantize_rows_cpu", "y");
  FQ_CHECK(y.device().is_cpu(), "quantize_rows_cpu: tensor 'y' must be on the CPU, got ", y.device());
  FQ_CHECK(at::isFloatingType(y.scalar_type()), "quantize_rows_cpu: tensor 'y' must be floating point, got ",
           y.scalar_type());
  const at::Tensor yf = y.to(at::kFloat).contiguous();
  const int64_t rows = yf.size(0);
  const int64_t n = yf.size(1);
  QuantizedCodes out;
  out.codes = at::empty({rows, n}, at::TensorOptions().dtype(at::kShort));
  out.scale = at::empty({rows}, at::TensorOptions().dtype(at::kFloat));
  if (!cfg.symmetric) out.zero = at::empty({rows}, at::TensorOptions().dtype(at::kFloat));
  const float* src = yf.data_ptr<float>();
  int16_t* codes = out.codes.data_ptr<int16_t>();
  float* scale = out.scale.data_ptr<float>();
  float* zero = cfg.symmetric ? nullptr : out.zero.data_ptr<float>();
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* row = src + r * n;
      // Start at 0: the quantizer uses max(max_j y_j, 0) and min(min_j y_j, 0) anyway.
      float row_max = 0.0f;
      float row_min = 0.0f;
      for (int64_t j = 0; j < n; ++j) {
        row_max = fmaxf(row_max, row[j]);
        row_min = fminf(row_min, row[j]);
      }
      const TokenQuantParams p = token_quant_params(row_max, row_min, cfg);
      for (int64_t j = 0; j < n; ++j) codes[r * n + j] = static_cast<int16_t>(quantize_value(row[j], p));
      scale[r] = p.scale;
      if (zero) zero[r] = p.zero;
    }
  });
  return out;
}

at::Tensor dequantize_rows_cpu(const at::Tensor& codes, const at::Tensor& scale, const at::Tensor& zero) {
  check_rank(codes, 2, "dequantize_rows_cpu", "codes");
  const int64_t rows = codes.size(0);
  check_shape(scale, {rows}, at::kFloat, "dequantize_rows_cpu", "scale");
  if (zero.defined()) check_shape(zero, {rows}, at::kFloat, "dequantize_rows_cpu", "zero");
  const at::Tensor c = codes.to(at::kInt).cpu().contiguous();
  const at::Tensor s = scale.cpu().contiguous();
  const at::Tensor z = zero.defined() ? zero.cpu().contiguous() : at::zeros({rows}, at::kFloat);
  const int64_t n = c.size(1);
  at::Tensor out = at::empty({rows, n}, at::TensorOptions().dtype(at::kFloat));
  const int32_t* cp = c.data_ptr<int32_t>();
  const float* sp = s.data_ptr<float>();
  const float* zp = z.data_ptr<float>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const TokenQuantParams p{sp[r], zp[r], 0.0f, 0.0f};
      for (int64_t j = 0; j < n; ++j) op[r * n + j] = dequantize_value(cp[r * n + j], p);
    }
  });
  return out;
}

}  // namespace fq::kernels
