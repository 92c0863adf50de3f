// Thin wrappers over the Hopper (sm_90a) instructions the wgmma kernels share: the warpgroup MMA pipeline's
// fences and waits, the generic-to-async proxy fence, named barriers. The instructions exist only in sm_90a
// code, so each kernel using them guards its body with __CUDA_ARCH_FEAT_SM90_ALL and the host asks
// wgmma_available() (the one declaration host code sees) before launching it.
#pragma once

#include <cstdint>

namespace fq::kernels::gpu {

// Whether the current device runs the sm_90a code of this build (an H100/H200 and a build for sm_90a).
bool wgmma_available();

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
}
// Ordinary shared-memory stores (and cp.async) become visible to the tensor cores (the async proxy).
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// Keeps the compiler from moving accumulator reads/writes across the asynchronous MMA (as CUTLASS's
// warpgroup_fence_operand).
__device__ __forceinline__ void fence_operand(int& r) { asm volatile("" : "+r"(r)::"memory"); }
__device__ __forceinline__ void fence_operand(uint32_t& r) { asm volatile("" : "+r"(r)::"memory"); }
__device__ __forceinline__ void fence_operand(uint64_t& r) { asm volatile("" : "+l"(r)::"memory"); }
__device__ __forceinline__ void fence_operand(float& r) { asm volatile("" : "+f"(r)::"memory"); }

// Barrier `id` (1..15; 0 is __syncthreads) among `threads` threads (a multiple of 32) of the CTA.
__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

}  // namespace fq::kernels::gpu
