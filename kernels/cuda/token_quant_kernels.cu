#include "kernels/cuda/token_quant_kernels.cuh"

#include <cuda_bf16.h>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/vector_io.cuh"
#include "kernels/cuda/warp_reduce.cuh"
#include "kernels/int4_coder.h"

namespace fq::kernels::gpu {
namespace {

constexpr int kThreads = 256;
constexpr int kRowsPerBlock = kThreads / 32;  // one warp per row

// One warp per row: a max/min pass, then a quantize-and-pack pass (the row is re-read from L1/L2).
template <typename T>
__global__ void __launch_bounds__(kThreads) quantize_rows_int4_kernel(const T* __restrict__ y, int64_t rows,
                                                                        int64_t n, TokenQuantConfig cfg,
                                                                        uint32_t* __restrict__ packed,
                                                                        float* __restrict__ scale,
                                                                        float* __restrict__ zero) {
  const int lane = threadIdx.x % 32;
  const int64_t chunks = n / 8;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / 32; r < rows;
       r += static_cast<int64_t>(gridDim.x) * kRowsPerBlock) {
    const T* row = y + r * n;
    float row_max = 0.0f, row_min = 0.0f;
    for (int64_t c = lane; c < chunks; c += 32) {
      float v[8];
      load8(row + 8 * c, v);
#pragma unroll
      for (int i = 0; i < 8; ++i) row_max = fmaxf(row_max, v[i]), row_min = fminf(row_min, v[i]);
    }
    const TokenQuantParams p = token_quant_params(warp_max(row_max), warp_min(row_min), cfg);
    with_int4_coder(p, [&](const auto& code) {
      for (int64_t c = lane; c < chunks; c += 32) {
        float v[8];
        load8(row + 8 * c, v);
        uint32_t word = 0;
#pragma unroll
        for (int i = 0; i < 8; ++i) word |= (code(v[i]) & 0xFu) << (4 * i);
        packed[r * chunks + c] = word;
      }
    });
    if (lane == 0) {
      scale[r] = p.scale;
      if (zero) zero[r] = p.zero;
    }
  }
}

// One thread per packed 32-bit word (eight codes).
template <typename T>
__global__ void __launch_bounds__(kThreads) dequantize_rows_int4_kernel(const uint32_t* __restrict__ packed,
                                                                          const float* __restrict__ scale,
                                                                          const float* __restrict__ zero,
                                                                          int64_t rows, int64_t n,
                                                                          T* __restrict__ out) {
  const int64_t chunks = n / 8;
  const int64_t total = rows * chunks;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    const int64_t r = i / chunks;
    const TokenQuantParams p{scale[r], zero ? zero[r] : 0.0f, 0.0f, 0.0f};
    const uint32_t word = packed[i];
    float v[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int nibble = static_cast<int>((word >> (4 * j)) & 0xFu);
      v[j] = dequantize_value(zero ? nibble : ((nibble ^ 8) - 8), p);
    }
    store8(out + 8 * i, v);
  }
}

}  // namespace

void launch_quantize_rows_int4(const void* y, RowDType dtype, int64_t rows, int64_t n, const TokenQuantConfig& cfg,
                               uint8_t* packed, float* scale, float* zero, cudaStream_t stream) {
  FQ_CHECK(cfg.bits == 4, "launch_quantize_rows_int4: the packed kernel quantizes to 4 bits, got ", cfg.bits);
  FQ_CHECK(n % 8 == 0, "launch_quantize_rows_int4: row length ", n, " must be a multiple of 8");
  FQ_CHECK((cfg.symmetric && zero == nullptr) || (!cfg.symmetric && zero != nullptr),
           "launch_quantize_rows_int4: a zero-point buffer is needed exactly when asymmetric");
  FQ_CHECK(reinterpret_cast<uintptr_t>(y) % 16 == 0 && reinterpret_cast<uintptr_t>(packed) % 4 == 0,
           "launch_quantize_rows_int4: y must be 16-byte and packed 4-byte aligned");
  if (rows == 0) return;
  const int grid = grid_for(rows, kRowsPerBlock);
  auto* out = reinterpret_cast<uint32_t*>(packed);
  if (dtype == RowDType::kFloat32) {
    quantize_rows_int4_kernel<float>
        <<<grid, kThreads, 0, stream>>>(static_cast<const float*>(y), rows, n, cfg, out, scale, zero);
  } else {
    quantize_rows_int4_kernel<__nv_bfloat16>
        <<<grid, kThreads, 0, stream>>>(static_cast<const __nv_bfloat16*>(y), rows, n, cfg, out, scale, zero);
  }
  FQ_CUDA_CHECK_LAUNCH();
}

void launch_dequantize_rows_int4(const uint8_t* packed, const float* scale, const float* zero, int64_t rows,
                                 int64_t n, RowDType out_dtype, void* out, cudaStream_t stream) {
  FQ_CHECK(n % 8 == 0, "launch_dequantize_rows_int4: row length ", n, " must be a multiple of 8");
  FQ_CHECK(reinterpret_cast<uintptr_t>(out) % 16 == 0 && reinterpret_cast<uintptr_t>(packed) % 4 == 0,
           "launch_dequantize_rows_int4: out must be 16-byte and packed 4-byte aligned");
  if (rows == 0) return;
  const int grid = grid_for(rows * (n / 8), kThreads);
  const auto* in = reinterpret_cast<const uint32_t*>(packed);
  if (out_dtype == RowDType::kFloat32) {
    dequantize_rows_int4_kernel<float><<<grid, kThreads, 0, stream>>>(in, scale, zero, rows, n, static_cast<float*>(out));
  } else {
    dequantize_rows_int4_kernel<__nv_bfloat16>
        <<<grid, kThreads, 0, stream>>>(in, scale, zero, rows, n, static_cast<__nv_bfloat16*>(out));
  }
  FQ_CUDA_CHECK_LAUNCH();
}

}  // namespace fq::kernels::gpu
