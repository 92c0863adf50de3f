// Warp-wide reductions (every lane ends with the result). Included by .cu files only.
#pragma once

#include <cmath>
#include <cstdint>

namespace fq::kernels::gpu {

// Float bits <-> integer keys that compare like the floats (an involution; -0 orders just below +0).
__device__ __forceinline__ int order_key(int bits) { return bits >= 0 ? bits : bits ^ 0x7FFFFFFF; }

// Max and min ignore NaN lanes, as fmaxf / fminf do (a warp of NaNs gives -inf / +inf). On sm_80+ one
// redux.sync on the order keys replaces five dependent shuffle rounds: the per-token reductions of the
// quantizing kernels sit on each token's serial path.

__device__ __forceinline__ float warp_max(float v) {
#if __CUDA_ARCH__ >= 800
  return __int_as_float(order_key(__reduce_max_sync(0xffffffffu, order_key(__float_as_int(v != v ? -INFINITY : v)))));
#else
  v = v != v ? -INFINITY : v;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
#endif
}

__device__ __forceinline__ float warp_min(float v) {
#if __CUDA_ARCH__ >= 800
  return __int_as_float(order_key(__reduce_min_sync(0xffffffffu, order_key(__float_as_int(v != v ? INFINITY : v)))));
#else
  v = v != v ? INFINITY : v;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
#endif
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// A value and the index where it was found.
struct IndexedValue {
  float value;
  int64_t index;
};

// Warp-wide max (kMax) or min of (value, index) pairs, keeping the smallest index among ties.
template <bool kMax>
__device__ __forceinline__ IndexedValue warp_extreme(IndexedValue v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v.value, o);
    const int64_t oi = __shfl_xor_sync(0xffffffffu, v.index, o);
    const bool better = kMax ? ov > v.value : ov < v.value;
    if (better || (ov == v.value && oi < v.index)) v = {ov, oi};
  }
  return v;
}

}  // namespace fq::kernels::gpu
