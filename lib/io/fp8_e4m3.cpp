#include "lib/io/fp8_e4m3.h"

#include <array>
#include <cmath>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "lib/core/error.h"

namespace fq::io {
namespace {

constexpr std::uint8_t kNanCode = 0x7F;
constexpr std::uint8_t kMaxCode = 0x7E;  // 0.1111.110 = 2^8 * 1.75 = 448

const std::array<float, 256>& decode_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int c = 0; c < 256; ++c) t[c] = fp8_e4m3_to_float(static_cast<std::uint8_t>(c));
    return t;
  }();
  return table;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

float fp8_e4m3_to_float(std::uint8_t code) {
  const float sign = (code & 0x80) ? -1.0f : 1.0f;
  const int exponent = (code >> 3) & 0xF;
  const int mantissa = code & 0x7;
  if (exponent == 0xF && mantissa == 0x7) return std::nanf("");
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -9);  // 2^-6 * m/8
  return sign * std::ldexp(1.0f + static_cast<float>(mantissa) / 8.0f, exponent - 7);
}

std::uint8_t float_to_fp8_e4m3(float value) {
  if (std::isnan(value)) return kNanCode;
  const std::uint8_t sign = std::signbit(value) ? 0x80 : 0x00;
  const float a = std::fabs(value);
  if (a >= kFp8E4M3Max) return sign | kMaxCode;
  // Every step below is exact in float (power-of-two scaling, subtracting 1 from [1, 2)), so nearbyint
  // (round half to even in the default rounding mode) does the only rounding.
  if (a < std::ldexp(1.0f, -6)) {
    // Subnormal grid m * 2^-9; m == 8 is code 0x08, the smallest normal, so the code is m itself.
    return sign | static_cast<std::uint8_t>(std::nearbyint(std::ldexp(a, 9)));
  }
  int e2 = 0;
  std::frexp(a, &e2);  // a = f * 2^e2 with f in [0.5, 1)
  int exponent = e2 - 1;
  int mantissa = static_cast<int>(std::nearbyint((std::ldexp(a, -exponent) - 1.0f) * 8.0f));
  if (mantissa == 8) {
    mantissa = 0;
    ++exponent;
  }
  // a < 448 rounds at most to 448 (exponent 8, mantissa 6), never into the NaN code.
  return sign | static_cast<std::uint8_t>(((exponent + 7) << 3) | mantissa);
}

at::Tensor fp8_e4m3_decode(const at::Tensor& codes) {
  FQ_CHECK(codes.scalar_type() == c10::kByte, "fp8_e4m3_decode: expected uint8 codes, got ",
           c10::toString(codes.scalar_type()));
  at::Tensor in = codes.contiguous();
  at::Tensor out = at::empty(in.sizes(), in.options().dtype(c10::kFloat));
  const auto& table = decode_table();
  const std::uint8_t* src = in.data_ptr<std::uint8_t>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, in.numel(), 1 << 16, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) dst[i] = table[src[i]];
  });
  return out;
}

at::Tensor fp8_e4m3_encode(const at::Tensor& values) {
  FQ_CHECK(values.scalar_type() == c10::kFloat, "fp8_e4m3_encode: expected float32 values, got ",
           c10::toString(values.scalar_type()));
  at::Tensor in = values.contiguous();
  at::Tensor out = at::empty(in.sizes(), in.options().dtype(c10::kByte));
  const float* src = in.data_ptr<float>();
  std::uint8_t* dst = out.data_ptr<std::uint8_t>();
  at::parallel_for(0, in.numel(), 1 << 14, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) dst[i] = float_to_fp8_e4m3(src[i]);
  });
  return out;
}

at::Tensor fp8_block_dequantize(const at::Tensor& codes, const at::Tensor& scale_inv, int64_t block_rows,
                                int64_t block_cols, const std::string& what) {
  FQ_CHECK(block_rows > 0 && block_cols > 0, what, ": FP8 block size ", block_rows, "x", block_cols,
           " is not positive");
  FQ_CHECK(codes.dim() == 2 && codes.scalar_type() == c10::kByte, what, ": FP8 weight must be 2-D uint8 codes, got ",
           codes.dim(), "-D ", c10::toString(codes.scalar_type()));
  const int64_t rows = codes.size(0);
  const int64_t cols = codes.size(1);
  const int64_t scale_rows = ceil_div(rows, block_rows);
  const int64_t scale_cols = ceil_div(cols, block_cols);
  FQ_CHECK(scale_inv.dim() == 2 && scale_inv.size(0) == scale_rows && scale_inv.size(1) == scale_cols, what,
           ": weight_scale_inv has shape ", scale_inv.sizes(), " but a [", rows, ", ", cols, "] weight in ", block_rows,
           "x", block_cols, " blocks needs [", scale_rows, ", ", scale_cols, "]");
  FQ_CHECK(scale_inv.scalar_type() == c10::kFloat, what, ": weight_scale_inv must be float32, got ",
           c10::toString(scale_inv.scalar_type()));
  at::Tensor q = codes.contiguous();
  at::Tensor s = scale_inv.contiguous();
  at::Tensor out = at::empty({rows, cols}, q.options().dtype(c10::kFloat));
  const auto& table = decode_table();
  const std::uint8_t* qp = q.data_ptr<std::uint8_t>();
  const float* sp = s.data_ptr<float>();
  float* op = out.data_ptr<float>();
  at::parallel_for(0, rows, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const float* scale_row = sp + (i / block_rows) * scale_cols;
      const std::uint8_t* q_row = qp + i * cols;
      float* o_row = op + i * cols;
      for (int64_t j = 0; j < cols; ++j) o_row[j] = table[q_row[j]] * scale_row[j / block_cols];
    }
  });
  return out;
}

Fp8Blocks fp8_block_quantize(const at::Tensor& weight, int64_t block_rows, int64_t block_cols) {
  FQ_CHECK(weight.dim() == 2 && weight.scalar_type() == c10::kFloat,
           "fp8_block_quantize: expected a 2-D float32 "
           "weight, got ",
           weight.dim(), "-D ", c10::toString(weight.scalar_type()));
  FQ_CHECK(block_rows > 0 && block_cols > 0, "fp8_block_quantize: block size ", block_rows, "x", block_cols,
           " is not positive");
  at::Tensor w = weight.contiguous();
  const int64_t rows = w.size(0);
  const int64_t cols = w.size(1);
  const int64_t scale_rows = ceil_div(rows, block_rows);
  const int64_t scale_cols = ceil_div(cols, block_cols);
  Fp8Blocks out{at::empty({rows, cols}, w.options().dtype(c10::kByte)),
                at::empty({scale_rows, scale_cols}, w.options())};
  const float* wp = w.data_ptr<float>();
  float* sp = out.scale_inv.data_ptr<float>();
  std::uint8_t* qp = out.codes.data_ptr<std::uint8_t>();
  at::parallel_for(0, scale_rows, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t bi = lo; bi < hi; ++bi) {
      const int64_t r0 = bi * block_rows;
      const int64_t r1 = std::min(rows, r0 + block_rows);
      for (int64_t bj = 0; bj < scale_cols; ++bj) {
        const int64_t c0 = bj * block_cols;
        const int64_t c1 = std::min(cols, c0 + block_cols);
        float amax = 0.0f;
        for (int64_t i = r0; i < r1; ++i) {
          for (int64_t j = c0; j < c1; ++j) amax = std::max(amax, std::fabs(wp[i * cols + j]));
        }
        const float scale = amax > 0.0f ? amax / kFp8E4M3Max : 1.0f;
        sp[bi * scale_cols + bj] = scale;
        for (int64_t i = r0; i < r1; ++i) {
          for (int64_t j = c0; j < c1; ++j) qp[i * cols + j] = float_to_fp8_e4m3(wp[i * cols + j] / scale);
        }
      }
    }
  });
  return out;
}

}  // namespace fq::io
