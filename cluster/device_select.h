// Which device each rank computes on.
#pragma once

#include <string>

#include <c10/core/Device.h>

namespace fq::cluster {

class MpiWorld;

// CUDA device (local_rank % cuda_device_count) when there is a device, else the CPU. With one visible GPU
// per task (Slurm --gpus-per-task, CUDA_VISIBLE_DEVICES per rank) that is device 0; with all of a node's
// GPUs visible to each rank, the node-local ranks spread over them.
c10::Device device_for_local_rank(int local_rank, int cuda_device_count);

// What a command's device option asks for: "auto" (device_for_local_rank), "cpu", or "cuda" (a GPU is
// required: an error naming `where` and `rank` when there is none). Other values are errors naming `where`.
c10::Device device_for_request(const std::string& request, int local_rank, int cuda_device_count, int rank,
                               const std::string& where);

// device_for_request for this rank, made the current CUDA device (so that allocations, kernels and NCCL
// land on it), and logged with the host name.
c10::Device select_device(const MpiWorld& world, const std::string& request = "auto",
                          const std::string& where = "device");

}  // namespace fq::cluster
