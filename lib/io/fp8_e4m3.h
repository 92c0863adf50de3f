// FP8 E4M3 "fn" (REFERENCE.md section 4): 1 sign, 4 exponent (bias 7), 3 mantissa bits, no infinities,
// S.1111.111 is NaN, largest finite 448, subnormals 2^-6 * m/8. DeepSeek V3 stores its linear weights in
// this format with one float32 `weight_scale_inv` per 128x128 block.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace fq::io {

constexpr float kFp8E4M3Max = 448.0f;

float fp8_e4m3_to_float(std::uint8_t code);
// Round to nearest even; magnitudes beyond 448 (and infinities) saturate to +-448; NaN becomes 0x7F.
std::uint8_t float_to_fp8_e4m3(float value);

// codes: uint8, any shape -> float32 of the same shape.
at::Tensor fp8_e4m3_decode(const at::Tensor& codes);
// values: float32, any shape -> uint8 codes (as float_to_fp8_e4m3).
at::Tensor fp8_e4m3_encode(const at::Tensor& values);

// W[i, j] = fp8(codes[i, j]) * scale_inv[i / block_rows, j / block_cols] in float32.
// codes: uint8 [rows, cols]; scale_inv: float32 [ceil(rows / block_rows), ceil(cols / block_cols)] (the last
// block row/column may be partial). Returns float32 [rows, cols]. Shape mismatches throw naming `what`.
at::Tensor fp8_block_dequantize(const at::Tensor& codes, const at::Tensor& scale_inv, int64_t block_rows,
                                int64_t block_cols, const std::string& what);

// The inverse, as DeepSeek's release quantizes: per block scale_inv = amax / 448 (1 for an all-zero block),
// codes = fp8(W / scale_inv). weight: float32 [rows, cols].
struct Fp8Blocks {
  at::Tensor codes;      // uint8 [rows, cols]
  at::Tensor scale_inv;  // float32 [ceil(rows / block_rows), ceil(cols / block_cols)]
};
Fp8Blocks fp8_block_quantize(const at::Tensor& weight, int64_t block_rows, int64_t block_cols);

}  // namespace fq::io
