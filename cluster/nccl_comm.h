// NCCL between the GPUs of an MpiWorld, with a watchdog so that a dead or hung peer fails the job instead
// of hanging it. The class exists only in builds with NCCL (FLATQUANT_HAVE_NCCL); code that must build
// everywhere holds an NcclCommPtr from make_nccl_comm(), null when NCCL is not usable, and passes it to
// send_tensor / recv_tensor / allreduce_sum_, which then stage CUDA tensors through host memory over MPI.
//
// NVLink multicast (NVLS) stays off: make_nccl_comm sets NCCL_NVLS_ENABLE=0 when the environment does not
// set it, and never overrides a value that is set.
#pragma once

#include <memory>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#if FLATQUANT_HAVE_NCCL
#include <cuda_runtime_api.h>
#include <nccl.h>
#endif

namespace fq::cluster {

class MpiWorld;
class NcclComm;

// Seconds an NCCL operation may take before the watchdog aborts the communicator and throws.
constexpr double kDefaultNcclTimeoutSeconds = 600.0;

struct NcclCommDeleter {
  void operator()(NcclComm* comm) const;
};
using NcclCommPtr = std::unique_ptr<NcclComm, NcclCommDeleter>;

// Collective over all ranks of `world`. Returns a communicator on `device` when this build has NCCL and
// every rank's device is CUDA; null otherwise (all ranks agree: it decides by an all-reduce).
NcclCommPtr make_nccl_comm(const MpiWorld& world, const c10::Device& device,
                           double timeout_seconds = kDefaultNcclTimeoutSeconds);

#if FLATQUANT_HAVE_NCCL

// One NCCL communicator over the ranks of an MpiWorld (same rank numbers), one GPU per rank. Operations
// run on the current PyTorch CUDA stream of the device (so they order after the kernels that produced
// their inputs) and block until done: the watchdog polls cudaStreamQuery and ncclCommGetAsyncError, and
// on an error or after `timeout_seconds` calls ncclCommAbort and throws fq::Error. An aborted
// communicator refuses further use.
class NcclComm {
 public:
  // Collective: rank 0 makes the unique id, MPI broadcasts it, every rank joins on `device_index`.
  NcclComm(const MpiWorld& world, int device_index, double timeout_seconds);
  ~NcclComm();
  NcclComm(NcclComm&& other) noexcept;
  NcclComm& operator=(NcclComm&& other) noexcept;
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int device_index() const { return device_index_; }

  // `tensor`: contiguous, on this communicator's device. Pairs with recv() on `peer`.
  void send(const at::Tensor& tensor, int peer);
  // Fills the preallocated contiguous `tensor` (on this device) with what `peer` sent.
  void recv(at::Tensor& tensor, int peer);
  // In place, every rank: floating types, int32/int64, uint8/int8.
  void allreduce_sum_(at::Tensor& tensor);

 private:
  cudaStream_t stream() const;
  void check_usable(const at::Tensor& tensor, const char* what) const;
  void check(ncclResult_t result, const char* call, const char* file, int line);
  void wait(const char* what);
  [[noreturn]] void abort_and_throw(const std::string& message);
  void release() noexcept;

  ncclComm_t comm_ = nullptr;
  int rank_ = 0;
  int size_ = 1;
  int device_index_ = 0;
  double timeout_seconds_ = kDefaultNcclTimeoutSeconds;
  bool aborted_ = false;
};

#endif  // FLATQUANT_HAVE_NCCL

}  // namespace fq::cluster
