// Which device each rank computes on.
#pragma once

#include <c10/core/Device.h>

namespace fq::cluster {

class MpiWorld;

// CUDA device (local_rank % cuda_device_count) when there is a device, else the CPU. With one visible GPU
// per task (Slurm --gpus-per-task, CUDA_VISIBLE_DEVICES per rank) that is device 0; with all of a node's
// GPUs visible to each rank, the node-local ranks spread over them.
c10::Device device_for_local_rank(int local_rank, int cuda_device_count);

// device_for_local_rank for this rank, made the current CUDA device (so that allocations, kernels and
// NCCL land on it), and logged with the host name.
c10::Device select_device(const MpiWorld& world);

}  // namespace fq::cluster
