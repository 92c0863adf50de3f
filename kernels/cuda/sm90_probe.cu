#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/sm90_primitives.cuh"

namespace fq::kernels::gpu {
namespace {

// Reports whether the code the driver loaded for this build was built for sm_90a (a plain sm_90 build of
// the same sources compiles the wgmma kernels into traps). Every .cu of fq_kernels takes the same
// FLATQUANT_CUDA_GENCODE, so this file answers for all of them.
__global__ void wgmma_probe_kernel(int* built_for_sm90a) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  *built_for_sm90a = 1;
#else
  *built_for_sm90a = 0;
#endif
}

bool probe_wgmma() {
  if (current_device_attribute(cudaDevAttrComputeCapabilityMajor) != 9 ||
      current_device_attribute(cudaDevAttrComputeCapabilityMinor) != 0) {
    return false;
  }
  int* flag = nullptr;
  FQ_CUDA_CHECK(cudaMalloc(&flag, sizeof(int)));
  wgmma_probe_kernel<<<1, 1>>>(flag);
  int built = 0;
  const cudaError_t launched = cudaGetLastError();
  const cudaError_t copied = cudaMemcpy(&built, flag, sizeof(int), cudaMemcpyDeviceToHost);
  FQ_CUDA_CHECK(cudaFree(flag));
  FQ_CUDA_CHECK(launched);
  FQ_CUDA_CHECK(copied);
  return built == 1;
}

}  // namespace

bool wgmma_available() {
  static const bool available = probe_wgmma();  // once per process (one kind of GPU per node)
  return available;
}

}  // namespace fq::kernels::gpu
