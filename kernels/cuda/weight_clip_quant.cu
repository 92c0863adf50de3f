#include "kernels/cuda/weight_clip_quant.cuh"

#include <cuda_bf16.h>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/vector_io.cuh"
#include "kernels/cuda/warp_reduce.cuh"

namespace fq::kernels::gpu {
namespace {

constexpr int kThreads = 256;
constexpr int kRowsPerBlock = kThreads / 32;  // one warp per row

// A float32 value as a tensor of T stores it (the clip bounds of bf16 weights are bf16 in the reference).
template <typename T>
__device__ __forceinline__ float to_storage(float x);

template <>
__device__ __forceinline__ float to_storage<float>(float x) {
  return x;
}

template <>
__device__ __forceinline__ float to_storage<__nv_bfloat16>(float x) {
  return __bfloat162float(__float2bfloat16_rn(x));
}

// A row's extremes (first indices), clip factors as stored, and quantizer.
struct RowStart {
  IndexedValue max, min;
  float clip_max, clip_min;
  WeightRowQuant<float> quant;
};

template <typename T>
__device__ RowStart row_start(const T* row, int64_t chunks, int lane, const float* clip_max, const float* clip_min,
                              int64_t r, const WeightQuantRule& rule) {
  IndexedValue mx{-INFINITY, 0}, mn{INFINITY, 0};
  for (int64_t c = lane; c < chunks; c += 32) {
    float v[8];
    load8(row + 8 * c, v);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      // A lane's indices increase, so strict comparisons keep its first; the warp keeps the smallest.
      if (v[i] > mx.value) mx = {v[i], 8 * c + i};
      if (v[i] < mn.value) mn = {v[i], 8 * c + i};
    }
  }
  RowStart s{warp_extreme<true>(mx), warp_extreme<false>(mn), 1.0f, 1.0f, {}};
  float lo = -INFINITY, hi = INFINITY;
  if (clip_max != nullptr) {
    s.clip_max = to_storage<T>(clip_max[r]);
    s.clip_min = to_storage<T>(clip_min[r]);
    hi = to_storage<T>(s.max.value * s.clip_max);
    lo = to_storage<T>(s.min.value * s.clip_min);
  }
  s.quant = weight_row_quant(s.max.value, s.min.value, lo, hi, rule);
  return s;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    weight_clip_fake_quant_kernel(const T* __restrict__ w, int64_t rows, int64_t k, const float* __restrict__ clip_max,
                                  const float* __restrict__ clip_min, WeightQuantRule rule, T* __restrict__ out) {
  const int lane = threadIdx.x % 32;
  const int64_t chunks = k / 8;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32; r < rows;
       r += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    const T* row = w + r * k;
    const RowStart s = row_start(row, chunks, lane, clip_max, clip_min, r, rule);
    // Second pass over the row (from L1/L2): quantize and store.
    for (int64_t c = lane; c < chunks; c += 32) {
      float v[8];
      load8(row + 8 * c, v);
#pragma unroll
      for (int i = 0; i < 8; ++i) v[i] = fake_quant_weight_value(v[i], s.quant);
      store8(out + r * k + 8 * c, v);
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    weight_clip_fake_quant_backward_kernel(const T* __restrict__ grad_out, const T* __restrict__ w, int64_t rows,
                                           int64_t k, const float* __restrict__ clip_max,
                                           const float* __restrict__ clip_min, WeightQuantRule rule,
                                           T* __restrict__ grad_w, float* __restrict__ grad_clip_max,
                                           float* __restrict__ grad_clip_min) {
  const int lane = threadIdx.x % 32;
  const int64_t chunks = k / 8;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32; r < rows;
       r += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    const T* row = w + r * k;
    const T* grow = grad_out + r * k;
    const RowStart s = row_start(row, chunks, lane, clip_max, clip_min, r, rule);
    const WeightRowQuant<float>& p = s.quant;
    // Row sums: d/ds, and the gradients of the elements clamped to lo and to hi.
    float grad_scale = 0.0f, grad_below = 0.0f, grad_above = 0.0f;
    for (int64_t c = lane; c < chunks; c += 32) {
      float v[8], g[8];
      load8(row + 8 * c, v);
      load8(grow + 8 * c, g);
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const WeightElementGrad<float> e = weight_element_grad(v[i], g[i], p);
        grad_scale += e.grad_scale;
        if (v[i] < p.lo) grad_below += e.grad_wc;
        else if (v[i] > p.hi) grad_above += e.grad_wc;
      }
    }
    const WeightBoundGrad<float> b =
        weight_bound_grad(s.max.value, s.min.value, s.clip_max, s.clip_min, warp_sum(grad_below),
                          warp_sum(grad_above), weight_range_grad(warp_sum(grad_scale), p), p);
    for (int64_t c = lane; c < chunks; c += 32) {
      float v[8], g[8];
      load8(row + 8 * c, v);
      load8(grow + 8 * c, g);
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const bool clamped = v[i] < p.lo || v[i] > p.hi;
        float out = clamped ? 0.0f : weight_element_grad(v[i], g[i], p).grad_wc;
        if (8 * c + i == s.max.index) out += b.to_argmax;
        if (8 * c + i == s.min.index) out += b.to_argmin;
        v[i] = out;
      }
      store8(grad_w + r * k + 8 * c, v);
    }
    if (lane == 0 && grad_clip_max != nullptr) {
      grad_clip_max[r] = b.grad_clip_max;
      grad_clip_min[r] = b.grad_clip_min;
    }
  }
}

void check_launch(const void* a, const void* b, int64_t k, const float* clip_max, const float* clip_min,
                  const WeightQuantRule& rule, const char* op) {
  check_weight_quant_rule(rule, op);
  FQ_CHECK(k > 0 && k % 8 == 0, op, ": row length ", k, " must be a positive multiple of 8");
  FQ_CHECK((clip_max == nullptr) == (clip_min == nullptr), op, ": clip_max and clip_min must both be given or neither");
  FQ_CHECK(reinterpret_cast<uintptr_t>(a) % 16 == 0 && reinterpret_cast<uintptr_t>(b) % 16 == 0, op,
           ": rows must be 16-byte aligned");
}

}  // namespace

void launch_weight_clip_fake_quant(const void* w, RowDType dtype, int64_t rows, int64_t k, const float* clip_max,
                                   const float* clip_min, const WeightQuantRule& rule, void* out,
                                   cudaStream_t stream) {
  check_launch(w, out, k, clip_max, clip_min, rule, "launch_weight_clip_fake_quant");
  if (rows == 0) return;
  const int grid = grid_for(rows, kRowsPerBlock);
  if (dtype == RowDType::kFloat32) {
    weight_clip_fake_quant_kernel<float><<<grid, kThreads, 0, stream>>>(
        static_cast<const float*>(w), rows, k, clip_max, clip_min, rule, static_cast<float*>(out));
  } else {
    weight_clip_fake_quant_kernel<__nv_bfloat16><<<grid, kThreads, 0, stream>>>(
        static_cast<const __nv_bfloat16*>(w), rows, k, clip_max, clip_min, rule, static_cast<__nv_bfloat16*>(out));
  }
  FQ_CUDA_CHECK_LAUNCH();
}

void launch_weight_clip_fake_quant_backward(const void* grad_out, const void* w, RowDType dtype, int64_t rows,
                                            int64_t k, const float* clip_max, const float* clip_min,
                                            const WeightQuantRule& rule, void* grad_w, float* grad_clip_max,
                                            float* grad_clip_min, cudaStream_t stream) {
  const char* op = "launch_weight_clip_fake_quant_backward";
  check_launch(w, grad_w, k, clip_max, clip_min, rule, op);
  check_launch(grad_out, grad_w, k, clip_max, clip_min, rule, op);
  FQ_CHECK((clip_max == nullptr) == (grad_clip_max == nullptr) && (grad_clip_max == nullptr) == (grad_clip_min == nullptr),
           op, ": the clip factors' gradients are written exactly when the factors are given");
  if (rows == 0) return;
  const int grid = grid_for(rows, kRowsPerBlock);
  if (dtype == RowDType::kFloat32) {
    weight_clip_fake_quant_backward_kernel<float><<<grid, kThreads, 0, stream>>>(
        static_cast<const float*>(grad_out), static_cast<const float*>(w), rows, k, clip_max, clip_min, rule,
        static_cast<float*>(grad_w), grad_clip_max, grad_clip_min);
  } else {
    weight_clip_fake_quant_backward_kernel<__nv_bfloat16><<<grid, kThreads, 0, stream>>>(
        static_cast<const __nv_bfloat16*>(grad_out), static_cast<const __nv_bfloat16*>(w), rows, k, clip_max,
        clip_min, rule, static_cast<__nv_bfloat16*>(grad_w), grad_clip_max, grad_clip_min);
  }
  FQ_CUDA_CHECK_LAUNCH();
}

}  // namespace fq::kernels::gpu
