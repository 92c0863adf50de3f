// Sum of a tensor over all ranks, in place: for the few reductions a calibration needs (statistics
// across data shards, gradients of parameters shared by an expert-parallel group).
#pragma once

#include <mpi.h>

#include <ATen/core/Tensor.h>

namespace fq::cluster {

class MpiWorld;
class NcclComm;

// Every rank passes a tensor of the same shape and dtype; each ends up holding the element-wise sum.
// CPU tensors reduce over MPI (float32/float64/int32/int64 natively; bfloat16/float16 are summed in
// float32 and rounded back once). CUDA tensors reduce over `nccl` when given, otherwise through host memory.
void allreduce_sum_(const MpiWorld& world, at::Tensor& tensor, NcclComm* nccl = nullptr);
// The same over any communicator, through MPI only (CUDA tensors staged through host memory); no check
// that the ranks' shapes agree.
void allreduce_sum_over_(MPI_Comm comm, at::Tensor& tensor);

}  // namespace fq::cluster
