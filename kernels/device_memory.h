// How much memory a device can still give out, for decisions such as keeping a model's layers resident.
#pragma once

#include <cstdint>

#include <c10/core/Device.h>

namespace fq::kernels {

// Bytes free on `device`: a GPU's free memory (cudaMemGetInfo: what neither this process, LibTorch's cache
// included, nor any other holds), or for the CPU the host's MemAvailable (/proc/meminfo: free memory plus
// the page cache the kernel can drop). 0 when it cannot be told.
int64_t available_memory_bytes(c10::Device device);

}  // namespace fq::kernels
