#include "cluster/tensor_allreduce.h"

#include <ATen/ATen.h>
#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cluster/collectives.h"
#include "cluster/mpi_check.h"
#include "cluster/mpi_world.h"
#include "cluster/nccl_comm.h"
#include "lib/core/error.h"

namespace fq::cluster {
namespace {

// Elements per MPI_Allreduce call: MPI counts are int.
constexpr std::int64_t kMaxElementsPerCall = std::int64_t{1} << 28;

MPI_Datatype mpi_type(c10::ScalarType type) {
  switch (type) {
    case c10::ScalarType::Float: return MPI_FLOAT;
    case c10::ScalarType::Double: return MPI_DOUBLE;
    case c10::ScalarType::Int: return MPI_INT32_T;
    case c10::ScalarType::Long: return MPI_INT64_T;
    default: return MPI_DATATYPE_NULL;
  }
}

// `host`: contiguous CPU tensor of an MPI-native type.
void allreduce_host_(MPI_Comm comm, at::Tensor& host) {
  char* data = static_cast<char*>(host.data_ptr());
  const std::int64_t total = host.numel();
  for (std::int64_t offset = 0; offset < total; offset += kMaxElementsPerCall) {
    const int count = static_cast<int>(std::min(kMaxElementsPerCall, total - offset));
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data + offset * host.element_size(), count, mpi_type(host.scalar_type()),
                            MPI_SUM, comm));
  }
}

}  // namespace

void allreduce_sum_(const MpiWorld& world, at::Tensor& tensor, NcclComm* nccl) {
  FQ_CHECK(tensor.defined() && tensor.layout() == c10::kStrided, "allreduce_sum_ on rank ", world.rank(),
           ": only defined dense tensors can be reduced");
  // Mismatched shapes would make MPI read past a buffer: compare numel and dtype first (one small reduce).
  const std::int64_t numel = tensor.numel(), dtype = static_cast<std::int64_t>(tensor.scalar_type());
  const std::vector<std::int64_t> range = allreduce(world, std::vector<std::int64_t>{numel, dtype, -numel, -dtype}, ReduceOp::kMax);
  FQ_CHECK(range[0] == -range[2] && range[1] == -range[3], "allreduce_sum_: ranks passed tensors of different sizes or "
           "dtypes (rank ", world.rank(), ": ", tensor.sizes(), " ", tensor.scalar_type(), ")");

  if (tensor.is_cuda() && nccl != nullptr) {
#if FLATQUANT_HAVE_NCCL
    at::Tensor dense = tensor.contiguous();
    nccl->allreduce_sum_(dense);
    if (!dense.is_same(tensor)) tensor.copy_(dense);
#endif
    return;
  }
  allreduce_sum_over_(world.comm(), tensor);
}

void allreduce_sum_over_(MPI_Comm comm, at::Tensor& tensor) {
  const c10::ScalarType type = tensor.scalar_type();
  const bool widen = type == c10::ScalarType::BFloat16 || type == c10::ScalarType::Half;
  FQ_CHECK(widen || mpi_type(type) != MPI_DATATYPE_NULL, "allreduce_sum_ does not support dtype ", type);
  if (tensor.is_cpu() && tensor.is_contiguous() && !widen) {
    allreduce_host_(comm, tensor);
    return;
  }
  // A copy: it differs from `tensor` in device, dtype or layout.
  at::Tensor host = tensor.to(at::kCPU, widen ? c10::ScalarType::Float : type).contiguous();
  allreduce_host_(comm, host);
  tensor.copy_(host);
}

}  // namespace fq::cluster
