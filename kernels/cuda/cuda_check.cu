#include "kernels/cuda/cuda_check.cuh"

namespace fq::kernels::gpu {

int current_sm_count() {
  int device = 0;
  FQ_CUDA_CHECK(cudaGetDevice(&device));
  int sms = 0;
  FQ_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  return sms;
}

}  // namespace fq::kernels::gpu
