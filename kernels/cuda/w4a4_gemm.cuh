// W4A4 GEMM launchers: packed int4 activations [M, K] (per-row scale, optional zero point) times packed
// int4 weights [E][N, K] (symmetric, per-output-channel scale), int32-exact accumulation, bf16 output:
//   y[m, n] = bf16( (float(acc) * sa[m]) * sb[e(m), n] + bias[n] ),
//   acc = sum_k (qa[m, k] - za[m]) * qb[e(m), n, k]
// with e(m) the expert owning row m (rows sorted by expert, int64 offsets [E+1]; E = 1 and no offsets for a
// dense linear). Hopper has no int4 tensor-core instruction: nibbles are expanded to 8-bit values in
// registers or shared memory and fed to int8 MMA.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "kernels/cuda/sm90_primitives.cuh"  // wgmma_available()

namespace fq::kernels::gpu {

struct W4A4GemmArgs {
  const uint8_t* a = nullptr;         // [M, K/2]
  const float* a_scale = nullptr;     // [M]
  const float* a_zero = nullptr;      // [M] (asymmetric activations) or nullptr (symmetric)
  const uint8_t* b = nullptr;         // [E, N, K/2]
  const float* b_scale = nullptr;     // [E, N]
  const int32_t* b_rowsum = nullptr;  // [E, N]: sum of each weight row's codes (used when a_zero is set)
  const float* bias = nullptr;        // [N] or nullptr
  const int64_t* expert_offsets = nullptr;  // [E + 1] on the device, or nullptr for a dense weight (E = 1)
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  int64_t experts = 1;
  __nv_bfloat16* out = nullptr;       // [M, N], or nullptr when out_accumulators is set
  int32_t* out_accumulators = nullptr;  // [M, N]: the exact integer sums instead of out (tests, debugging)
};

// Which kernel runs. kAuto: wgmma on sm_90a devices for more than 256 rows (per expert), where it is faster
// (docs/BENCHMARKS.md); mma.sync otherwise.
enum class W4A4GemmKernel { kAuto, kMmaSync, kWgmma };

// Requirements (checked, fq::Error otherwise): K % 32 == 0 and K <= 65536 (exact int32 sums), N % 8 == 0,
// a, b and out 16-byte aligned. Rows past an expert's offsets range are never read or written.
void launch_w4a4_gemm(const W4A4GemmArgs& args, W4A4GemmKernel kernel, cudaStream_t stream);

// The individual kernels (w4a4_gemm_sm80.cu, w4a4_gemm_sm90.cu).
void launch_w4a4_gemm_mma_sync(const W4A4GemmArgs& args, cudaStream_t stream);
void launch_w4a4_gemm_wgmma(const W4A4GemmArgs& args, cudaStream_t stream);

}  // namespace fq::kernels::gpu
