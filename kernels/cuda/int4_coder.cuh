// The int4 code of kernels/token_quant.h's quantize_value, computed the cheap way by the kernels that
// quantize every element of a token. Included by .cu files only.
//
// Why: quantize_value divides (div.rn: a reciprocal plus a correction and a slow-path branch) and converts
// to int (F2I) after rintf (FRND); both conversions issue at a quarter of the FP32 rate and were about a
// third of the fused t+q kernels' instructions. Here, per element:
//   q = v / scale, correctly rounded, from y = 1 / scale (a correctly rounded division, once per row): q0 = v * y, then Markstein's correction with
//       the exact residual v - q0 * scale (two FMAs);
//   the clamp comes before the rounding, to [qmin - zero, qmax - zero] (integers: clamping and rounding
//       commute, so this equals clamping rint(q) + zero to [qmin, qmax]);
//   rint by adding 1.5 * 2^23 (the sum's unit is 1, ties go to even as rintf's; the clamped value is far
//       below 2^22), whose low mantissa bits are then the integer: + zero, and the low nibble is the code.
// The result is bit-identical to quantize_value(v, p) & 0xF for every v (NaN too: fmaxf drops it to the
// lower bound, as quantize_value's clamp does) as long as v / scale stays finite and 1 / scale is a normal
// float; rows whose scale is outside [2^-125, 2^125] (an inf or NaN in the row, a nearly-zero row) take
// quantize_value itself: `with_int4_coder` picks per row, a uniform branch outside the element loop.
#pragma once

#include <cstdint>

#include "kernels/token_quant.h"

namespace fq::kernels::gpu {

// Low nibble = quantize_value(v, p) & 0xF; the upper bits are not part of the code.
struct ReciprocalInt4Coder {
  float scale, inv_scale, lo, hi;
  uint32_t zero;

  __device__ __forceinline__ explicit ReciprocalInt4Coder(const TokenQuantParams& p)
      : scale(p.scale), inv_scale(1.0f / p.scale), lo(p.qmin - p.zero), hi(p.qmax - p.zero),
        zero(static_cast<uint32_t>(static_cast<int>(p.zero))) {}

  __device__ __forceinline__ uint32_t operator()(float v) const {
    const float q0 = __fmul_rn(v, inv_scale);
    const float r = __fmaf_rn(-q0, scale, v);
    const float q = __fmaf_rn(r, inv_scale, q0);
    const float clamped = fminf(fmaxf(q, lo), hi);
    return __float_as_uint(__fadd_rn(clamped, 12582912.0f)) + zero;
  }
};

struct DividingInt4Coder {
  TokenQuantParams p;

  __device__ __forceinline__ uint32_t operator()(float v) const {
    return static_cast<uint32_t>(quantize_value(v, p));
  }
};

// fn(coder) with the coder for this row's parameters (see the header comment).
template <typename Fn>
__device__ __forceinline__ void with_int4_coder(const TokenQuantParams& p, Fn&& fn) {
  if (p.scale >= 0x1p-125f && p.scale <= 0x1p125f) {
    fn(ReciprocalInt4Coder(p));
  } else {
    fn(DividingInt4Coder{p});
  }
}

// Two codes in one byte: `first` in the low nibble (the packed int4 layout of kernels/int4_pack).
__device__ __forceinline__ uint32_t int4_pair(uint32_t first, uint32_t second) {
  return (first & 0xFu) | ((second & 0xFu) << 4);
}

}  // namespace fq::kernels::gpu
