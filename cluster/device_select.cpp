#include "cluster/device_select.h"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/cuda.h>

#include "cluster/mpi_world.h"
#include "lib/core/error.h"
#include "lib/core/log.h"

namespace fq::cluster {

c10::Device device_for_local_rank(int local_rank, int cuda_device_count) {
  FQ_CHECK(local_rank >= 0 && cuda_device_count >= 0, "invalid local rank ", local_rank, " or device count ",
           cuda_device_count);
  if (cuda_device_count == 0) return c10::Device(c10::kCPU);
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(local_rank % cuda_device_count));
}

c10::Device select_device(const MpiWorld& world) {
  const int count = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
  const c10::Device device = device_for_local_rank(world.local_rank(), count);
  if (device.is_cuda()) c10::impl::getDeviceGuardImpl(c10::kCUDA)->setDevice(device);
  log::info("cluster", "device selected", {{"host", world.hostname()}, {"local_rank", world.local_rank()},
                                           {"device", device.str()}, {"visible_gpus", count}});
  return device;
}

}  // namespace fq::cluster
