// Warp-wide reductions (butterfly shuffles: every lane ends with the result). Included by .cu files only.
#pragma once

#include <cstdint>

namespace fq::kernels::gpu {

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ __forceinline__ float warp_min(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
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
