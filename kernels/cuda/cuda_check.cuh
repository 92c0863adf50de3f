// CUDA runtime error checks of the kernel launchers (after DeepGEMM's DG_CUDA_RUNTIME_CHECK): a failing call
// throws fq::Error "CUDA runtime error (file:line): <call>: <name> (<text>)".
#pragma once

#include <cuda_runtime_api.h>

#include "lib/core/error.h"

#define FQ_CUDA_CHECK(expr)                                                                                 \
  do {                                                                                                      \
    const cudaError_t fq_cuda_err_ = (expr);                                                                \
    if (fq_cuda_err_ != cudaSuccess)                                                                        \
      throw ::fq::Error(::fq::str("CUDA runtime error (", __FILE__, ":", __LINE__, "): ", #expr, ": ",      \
                                  cudaGetErrorName(fq_cuda_err_), " (", cudaGetErrorString(fq_cuda_err_), ")")); \
  } while (0)

// After a kernel launch: reports launch-configuration errors at once (execution errors surface at the
// next synchronising call).
#define FQ_CUDA_CHECK_LAUNCH() FQ_CUDA_CHECK(cudaGetLastError())

namespace fq::kernels::gpu {

// An attribute of the current device (cudaDevAttrMultiProcessorCount, ...).
int current_device_attribute(cudaDeviceAttr attribute);

inline int current_sm_count() { return current_device_attribute(cudaDevAttrMultiProcessorCount); }

// Dynamic shared memory one block may opt in to (cudaFuncAttributeMaxDynamicSharedMemorySize).
inline int max_optin_smem() { return current_device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin); }

// Blocks of `kernel` resident on one SM at `threads` threads and `smem_bytes` of dynamic shared memory (at
// least 1). Cached per (kernel, bytes): the occupancy query costs more than a small launch itself.
int resident_blocks_per_sm(const void* kernel, int threads, int smem_bytes);

// Integer division rounding up.
__host__ __device__ constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks for a grid-stride loop over `work_items` items, `per_block` per block: enough to fill the GPU
// (16 per SM), no more.
inline int grid_for(int64_t work_items, int64_t per_block) {
  const int64_t blocks = ceil_div(work_items, per_block);
  const int64_t cap = int64_t{current_sm_count()} * 16;
  return static_cast<int>(blocks < 1 ? 1 : (blocks < cap ? blocks : cap));
}

}  // namespace fq::kernels::gpu
