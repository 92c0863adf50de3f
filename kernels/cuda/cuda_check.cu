#include "kernels/cuda/cuda_check.cuh"

#include <map>
#include <mutex>
#include <utility>

namespace fq::kernels::gpu {

int current_device_attribute(cudaDeviceAttr attribute) {
  int device = 0;
  FQ_CUDA_CHECK(cudaGetDevice(&device));
  int value = 0;
  FQ_CUDA_CHECK(cudaDeviceGetAttribute(&value, attribute, device));
  return value;
}

int resident_blocks_per_sm(const void* kernel, int threads, int smem_bytes) {
  static std::mutex mutex;
  static std::map<std::pair<const void*, int>, int> cache;
  const std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find({kernel, smem_bytes});
  if (it == cache.end()) {
    int blocks = 0;
    FQ_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, threads, smem_bytes));
    it = cache.emplace(std::make_pair(kernel, smem_bytes), blocks < 1 ? 1 : blocks).first;
  }
  return it->second;
}

}  // namespace fq::kernels::gpu
