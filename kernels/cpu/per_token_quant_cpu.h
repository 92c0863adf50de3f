// CPU reference of per-token quantization (kernels/token_quant.h) at the level of integer codes, for any
// bit width 2..8. The CUDA kernels must reproduce it bit for bit.
#pragma once

#include <ATen/core/Tensor.h>

#include "kernels/token_quant.h"

namespace fq::kernels {

struct QuantizedCodes {
  at::Tensor codes;  // int16 [rows, n] (asymmetric 8-bit codes reach 255)
  at::Tensor scale;  // float32 [rows]
  at::Tensor zero;   // float32 [rows] when asymmetric, undefined when symmetric
};

// y: floating-point [rows, n] on the CPU (converted to float32 first).
QuantizedCodes quantize_rows_cpu(const at::Tensor& y, const TokenQuantConfig& cfg);

// codes: integer [rows, n]; scale, zero: float32 [rows] (zero undefined when symmetric). Returns float32
// [rows, n]: scale * code, or scale * (code - zero).
at::Tensor dequantize_rows_cpu(const at::Tensor& codes, const at::Tensor& scale, const at::Tensor& zero);

}  // namespace fq::kernels
