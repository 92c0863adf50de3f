#include "kernels/cuda/cuda_check.cuh"

namespace fq::kernels::gpu {

int current_device_attribute(cudaDeviceAttr attribute) {
  int device = 0;
  FQ_CUDA_CHECK(cudaGetDevice(&device));
  int value = 0;
  FQ_CUDA_CHECK(cudaDeviceGetAttribute(&value, attribute, device));
  return value;
}

}  // namespace fq::kernels::gpu
