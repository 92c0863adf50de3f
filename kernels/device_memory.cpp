#include "kernels/device_memory.h"

#include <fstream>
#include <sstream>
#include <string>

#ifdef FLATQUANT_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace fq::kernels {
namespace {

int64_t host_available_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);) {
    std::istringstream fields(line);
    std::string key;
    int64_t kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

#ifdef FLATQUANT_HAVE_CUDA
// index < 0: the current device.
int64_t gpu_free_bytes(int index) {
  int current = 0;
  if (cudaGetDevice(&current) != cudaSuccess) return 0;
  if (index < 0) index = current;
  size_t free_bytes = 0, total_bytes = 0;
  const bool switched = index != current && cudaSetDevice(index) == cudaSuccess;
  const bool known = (index == current || switched) && cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess;
  if (switched) cudaSetDevice(current);
  return known ? static_cast<int64_t>(free_bytes) : 0;
}
#endif

}  // namespace

int64_t available_memory_bytes(c10::Device device) {
  if (device.is_cpu()) return host_available_bytes();
#ifdef FLATQUANT_HAVE_CUDA
  if (device.is_cuda()) return gpu_free_bytes(device.has_index() ? device.index() : -1);
#endif
  return 0;
}

}  // namespace fq::kernels
