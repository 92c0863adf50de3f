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

c10::Device device_for_request(const std::string& request, int local_rank, int cuda_device_count, int rank,
                               const std::string& where) {
  FQ_CHECK(request == "auto" || request == "cpu" || request == "cuda", where, " is '", request,
           "': expected auto, cpu or cuda");
  if (request == "cpu") return c10::Device(c10::kCPU);
  const c10::Device device = device_for_local_rank(local_rank, cuda_device_count);
  FQ_CHECK(request != "cuda" || device.is_cuda(), where, " is 'cuda' but no CUDA device is available to rank ", rank);
  return device;
}

c10::Device select_device(const MpiWorld& world, const std::string& request, const std::string& where) {
  const int count = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
  const c10::Device device = device_for_request(request, world.local_rank(), count, world.rank(), where);
  if (device.is_cuda()) c10::impl::getDeviceGuardImpl(c10::kCUDA)->setDevice(device);
  log::info("cluster", "device selected", {{"host", world.hostname()}, {"local_rank", world.local_rank()},
                                           {"device", device.str()}, {"visible_gpus", count}});
  return device;
}

}  // namespace fq::cluster
