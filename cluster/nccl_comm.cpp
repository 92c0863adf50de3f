#include "cluster/nccl_comm.h"

#include "lib/core/error.h"

#if FLATQUANT_HAVE_NCCL
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <utility>
#include <vector>

#include "cluster/collectives.h"
#include "cluster/mpi_check.h"
#include "cluster/mpi_world.h"
#include "lib/core/log.h"
#endif

namespace fq::cluster {

#if FLATQUANT_HAVE_NCCL
namespace {

void cuda_check(cudaError_t code, const char* call, const char* file, int line) {
  if (code == cudaSuccess) return;
  throw Error(str("CUDA error (", file, ":", line, ", rank ", log::rank(), "): ", call, " failed: ",
                  cudaGetErrorName(code), ": ", cudaGetErrorString(code)));
}

void nccl_check(ncclResult_t code, const char* call, const char* file, int line) {
  if (code == ncclSuccess) return;
  throw Error(str("NCCL error (", file, ":", line, ", rank ", log::rank(), "): ", call, " failed: ",
                  ncclGetErrorString(code)));
}

ncclDataType_t nccl_type(c10::ScalarType type) {
  switch (type) {
    case c10::ScalarType::Float: return ncclFloat32;
    case c10::ScalarType::Double: return ncclFloat64;
    case c10::ScalarType::Half: return ncclFloat16;
    case c10::ScalarType::BFloat16: return ncclBfloat16;  // NCCL >= 2.10 with CUDA >= 11
    case c10::ScalarType::Int: return ncclInt32;
    case c10::ScalarType::Long: return ncclInt64;
    case c10::ScalarType::Byte: return ncclUint8;
    case c10::ScalarType::Char: return ncclInt8;
    default: throw Error(str("NCCL all-reduce does not support dtype ", c10::toString(type)));
  }
}

}  // namespace

#define CUDA_CHECK(call) cuda_check((call), #call, __FILE__, __LINE__)
#define NCCL_CHECK(call) nccl_check((call), #call, __FILE__, __LINE__)
// For operations on a live communicator: a failure aborts it before throwing (fail fast).
#define NCCL_OP_CHECK(call) check((call), #call, __FILE__, __LINE__)

NcclComm::NcclComm(const MpiWorld& world, int device_index, double timeout_seconds)
    : rank_(world.rank()), size_(world.size()), device_index_(device_index), timeout_seconds_(timeout_seconds) {
  FQ_CHECK(timeout_seconds > 0, "NCCL timeout must be positive, got ", timeout_seconds);
  // NCCL reads its environment once, at the first call: keep NVLink multicast off unless the user chose.
  ::setenv("NCCL_NVLS_ENABLE", "0", /*overwrite=*/0);
  CUDA_CHECK(cudaSetDevice(device_index_));
  ncclUniqueId id{};
  if (rank_ == 0) NCCL_CHECK(ncclGetUniqueId(&id));
  MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, world.comm()));
  NCCL_CHECK(ncclCommInitRank(&comm_, size_, id, rank_));
  log::debug("cluster", "nccl communicator ready", {{"device", device_index_}, {"ranks", size_}});
}

NcclComm::~NcclComm() { release(); }

NcclComm::NcclComm(NcclComm&& other) noexcept { *this = std::move(other); }

NcclComm& NcclComm::operator=(NcclComm&& other) noexcept {
  if (this != &other) {
    release();
    comm_ = std::exchange(other.comm_, nullptr);
    rank_ = other.rank_;
    size_ = other.size_;
    device_index_ = other.device_index_;
    timeout_seconds_ = other.timeout_seconds_;
    aborted_ = std::exchange(other.aborted_, false);
  }
  return *this;
}

void NcclComm::release() noexcept {
  if (comm_ != nullptr && !aborted_) ncclCommDestroy(comm_);
  comm_ = nullptr;
}

cudaStream_t NcclComm::stream() const { return c10::cuda::getCurrentCUDAStream(device_index_).stream(); }

void NcclComm::check(ncclResult_t result, const char* call, const char* file, int line) {
  if (result == ncclSuccess) return;
  abort_and_throw(str(call, " failed (", file, ":", line, "): ", ncclGetErrorString(result)));
}

void NcclComm::abort_and_throw(const std::string& message) {
  std::string detail;
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 13, 0)
  if (comm_ != nullptr && !aborted_) {
    const char* last = ncclGetLastError(comm_);
    if (last != nullptr && *last != '\0') detail = str(" (", last, ")");
  }
#endif
  if (comm_ != nullptr && !aborted_) ncclCommAbort(comm_);  // frees the communicator
  aborted_ = true;
  comm_ = nullptr;
  throw Error(str("NCCL on rank ", rank_, " (cuda:", device_index_, "): ", message, detail,
                  "; the communicator was aborted"));
}

void NcclComm::wait(const char* what) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  auto pause = std::chrono::microseconds(20);
  const cudaStream_t s = stream();
  while (true) {
    const cudaError_t state = cudaStreamQuery(s);
    if (state == cudaSuccess) return;
    if (state != cudaErrorNotReady) {
      abort_and_throw(str("CUDA error while waiting for ", what, ": ", cudaGetErrorString(state)));
    }
    ncclResult_t async_error = ncclSuccess;
    const ncclResult_t query = ncclCommGetAsyncError(comm_, &async_error);
    if (query != ncclSuccess || async_error != ncclSuccess) {
      abort_and_throw(str(what, " failed: ", ncclGetErrorString(query != ncclSuccess ? query : async_error),
                          " (a peer rank died or the network failed)"));
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (elapsed > timeout_seconds_) {
      abort_and_throw(str(what, " did not finish within ", timeout_seconds_, " s (a peer rank is dead or stuck)"));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
}

void NcclComm::check_usable(const at::Tensor& tensor, const char* what) const {
  FQ_CHECK(comm_ != nullptr, "NCCL ", what, " on rank ", rank_, ": the communicator was aborted or moved from");
  FQ_CHECK(tensor.is_cuda() && tensor.get_device() == device_index_ && tensor.is_contiguous(), "NCCL ", what,
           " on rank ", rank_, " needs a contiguous tensor on cuda:", device_index_, ", got ", tensor.device());
}

void NcclComm::send(const at::Tensor& tensor, int peer) {
  check_usable(tensor, "send");
  c10::cuda::CUDAGuard guard(device_index_);
  NCCL_OP_CHECK(ncclGroupStart());
  NCCL_OP_CHECK(ncclSend(tensor.data_ptr(), tensor.nbytes(), ncclUint8, peer, comm_, stream()));
  NCCL_OP_CHECK(ncclGroupEnd());
  wait("send");
}

void NcclComm::recv(at::Tensor& tensor, int peer) {
  check_usable(tensor, "recv");
  c10::cuda::CUDAGuard guard(device_index_);
  NCCL_OP_CHECK(ncclGroupStart());
  NCCL_OP_CHECK(ncclRecv(tensor.data_ptr(), tensor.nbytes(), ncclUint8, peer, comm_, stream()));
  NCCL_OP_CHECK(ncclGroupEnd());
  wait("recv");
}

void NcclComm::allreduce_sum_(at::Tensor& tensor) {
  check_usable(tensor, "all-reduce");
  c10::cuda::CUDAGuard guard(device_index_);
  const ncclDataType_t type = nccl_type(tensor.scalar_type());
  NCCL_OP_CHECK(ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(), static_cast<size_t>(tensor.numel()), type, ncclSum,
                              comm_, stream()));
  wait("all-reduce");
}

void NcclCommDeleter::operator()(NcclComm* comm) const { delete comm; }

NcclCommPtr make_nccl_comm(const MpiWorld& world, const c10::Device& device, double timeout_seconds) {
  const std::int64_t usable = device.is_cuda() && device.has_index() ? 1 : 0;
  if (allreduce(world, std::vector<std::int64_t>{usable}, ReduceOp::kMin)[0] == 0) return nullptr;
  return NcclCommPtr(new NcclComm(world, device.index(), timeout_seconds));
}

#else  // !FLATQUANT_HAVE_NCCL

// make_nccl_comm never returns a communicator in this build, so there is never one to delete.
void NcclCommDeleter::operator()(NcclComm* comm) const { FQ_ASSERT(comm == nullptr); }

NcclCommPtr make_nccl_comm(const MpiWorld& world, const c10::Device& device, double timeout_seconds) {
  return nullptr;
}

#endif  // FLATQUANT_HAVE_NCCL

}  // namespace fq::cluster
