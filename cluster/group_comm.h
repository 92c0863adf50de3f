// A communicator over some of an MpiWorld's ranks (MPI_Comm_split): the ranks of one expert-parallel
// group, which sum the routed experts' shares of every MoE forward and some gradients of every backward.
#pragma once

#include <mpi.h>

#include <ATen/core/Tensor.h>

namespace fq::cluster {

class MpiWorld;

class GroupComm {
 public:
  // Collective over the whole world: ranks passing the same `color` form one group, ranked as in the world.
  GroupComm(const MpiWorld& world, int color);
  ~GroupComm();
  GroupComm(GroupComm&& other) noexcept;
  GroupComm& operator=(GroupComm&& other) noexcept;
  GroupComm(const GroupComm&) = delete;
  GroupComm& operator=(const GroupComm&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // In place, the element-wise sum over the group (CUDA tensors through host memory).
  void allreduce_sum_(at::Tensor& tensor) const;
  // True on every rank of the group when `flag` is true on any: a decision all of them take together.
  bool any(bool flag) const;

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace fq::cluster
