#include "cluster/group_comm.h"

#include <utility>

#include "cluster/mpi_check.h"
#include "cluster/mpi_world.h"
#include "cluster/tensor_allreduce.h"

namespace fq::cluster {

GroupComm::GroupComm(const MpiWorld& world, int color) {
  MPI_CHECK(MPI_Comm_split(world.comm(), color, world.rank(), &comm_));
  MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  MPI_CHECK(MPI_Comm_size(comm_, &size_));
}

GroupComm::~GroupComm() {
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

GroupComm::GroupComm(GroupComm&& other) noexcept
    : comm_(std::exchange(other.comm_, MPI_COMM_NULL)), rank_(other.rank_), size_(other.size_) {}

GroupComm& GroupComm::operator=(GroupComm&& other) noexcept {
  if (this != &other) {
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
    comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
    rank_ = other.rank_;
    size_ = other.size_;
  }
  return *this;
}

void GroupComm::allreduce_sum_(at::Tensor& tensor) const { allreduce_sum_over_(comm_, tensor); }

bool GroupComm::any(bool flag) const {
  int value = flag ? 1 : 0, result = 0;
  MPI_CHECK(MPI_Allreduce(&value, &result, 1, MPI_INT, MPI_MAX, comm_));
  return result != 0;
}

}  // namespace fq::cluster
