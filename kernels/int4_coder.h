// The int4 code of token_quant.h's quantize_value, computed the cheap way, for the kernels that quantize
// every element of a token (the fused transform + quantize kernels, the row quantizer). Host and device:
// the CPU test (tests/unit/kernels/int4_coder_test.cpp) holds it to quantize_value bit for bit.
//
// Why: quantize_value divides (on the GPU div.rn: a reciprocal, a correction and a slow-path branch) and
// converts to int (F2I) after rintf (FRND); both conversions issue at a quarter of the FP32 rate and were
// about a third of the fused t+q kernels' instructions. Here, per element:
//   q = v / scale correctly rounded, from y = 1 / scale (one division per row): q0 = v * y, then Markstein's
//       correction with the exact residual v - q0 * scale (two FMAs);
//   the clamp comes before the rounding, to [qmin - zero, qmax - zero] (integers: clamping and rounding
//       commute, so this equals clamping rint(q) + zero to [qmin, qmax]);
//   rint by adding 1.5 * 2^23 (the sum's unit is 1 and ties go to even, as rintf's; the clamped value is far
//       below 2^22), whose low mantissa bits are then the integer: + zero, and the low nibble is the code.
// This equals quantize_value(v, p) & 0xF for every v (a NaN too: fmaxf drops it to the lower bound, as
// quantize_value's clamp does) as long as 1 / scale is a normal float and v / scale is finite (|v| is at
// most the row's max, so v / scale <= qmax / clip). Rows whose scale lies outside [2^-125, 2^125] (an inf
// or NaN in the row, a nearly-zero row) take quantize_value itself: `with_int4_coder` picks per row, a
// uniform branch outside the element loop.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/token_quant.h"

namespace fq::kernels {

FQ_HOST_DEVICE uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

// Low nibble = quantize_value(v, p) & 0xF; the upper bits are not part of the code. Written with plain
// operations, none of which can be contracted into another (no product feeds an addition).
struct ReciprocalInt4Coder {
  float scale, inv_scale, lo, hi;
  uint32_t zero;

  FQ_HOST_DEVICE explicit ReciprocalInt4Coder(const TokenQuantParams& p)
      : scale(p.scale), inv_scale(1.0f / p.scale), lo(p.qmin - p.zero), hi(p.qmax - p.zero),
        zero(static_cast<uint32_t>(static_cast<int>(p.zero))) {}

  FQ_HOST_DEVICE uint32_t operator()(float v) const {
    const float q0 = v * inv_scale;
    const float r = fmaf(-q0, scale, v);
    const float q = fmaf(r, inv_scale, q0);
    const float clamped = fminf(fmaxf(q, lo), hi);
    return float_bits(clamped + 12582912.0f) + zero;
  }
};

struct DividingInt4Coder {
  TokenQuantParams p;

  FQ_HOST_DEVICE uint32_t operator()(float v) const { return static_cast<uint32_t>(quantize_value(v, p)); }
};

// Whether ReciprocalInt4Coder is exact for a row of this scale (see the header comment).
FQ_HOST_DEVICE bool reciprocal_coder_exact(float scale) { return scale >= 0x1p-125f && scale <= 0x1p125f; }

// fn(coder) with the coder for this row's parameters.
template <typename Fn>
FQ_HOST_DEVICE void with_int4_coder(const TokenQuantParams& p, Fn&& fn) {
  if (reciprocal_coder_exact(p.scale)) {
    fn(ReciprocalInt4Coder(p));
  } else {
    fn(DividingInt4Coder{p});
  }
}

// Two codes in one byte, `first` in the low nibble (the packed layout of int4_pack.h).
FQ_HOST_DEVICE uint32_t int4_pair(uint32_t first, uint32_t second) { return (first & 0xFu) | ((second & 0xFu) << 4); }

}  // namespace fq::kernels
