#include "cluster/tensor_stream.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <thread>

#include "cluster/chunked_transfer.h"
#include "cluster/mpi_check.h"
#include "cluster/mpi_world.h"
#include "cluster/tensor_transfer.h"
#include "lib/core/error.h"

namespace fq::cluster {
namespace {

// Message layout: int64 dtype, int64 dims, int64 sizes[dims], then the tensor's bytes.
constexpr auto kPollInterval = std::chrono::microseconds(200);

}  // namespace

TensorStream::TensorStream(const MpiWorld& world, int sender, int receiver)
    : world_(world), sender_(sender), receiver_(receiver) {
  FQ_CHECK(sender >= 0 && sender < world.size() && receiver >= 0 && receiver < world.size() && sender != receiver,
           "tensor stream from rank ", sender, " to rank ", receiver, " in a job of ", world.size(), " ranks");
}

TensorStream::~TensorStream() {
  // Moving a vector keeps its buffer where MPI may still read it; the new vector is never freed.
  for (Pending& p : pending_) new std::vector<char>(std::move(p.bytes));
}

void TensorStream::post(const at::Tensor& tensor) {
  FQ_CHECK(world_.rank() == sender_, "tensor stream: rank ", world_.rank(), " posts on the stream of rank ", sender_);
  FQ_CHECK(tensor.defined() && tensor.device().is_cpu() && tensor.dim() <= kMaxTransferDims,
           "tensor stream: only defined CPU tensors of at most ", kMaxTransferDims, " dimensions can be posted");
  const at::Tensor data = tensor.contiguous();
  std::vector<std::int64_t> header{static_cast<std::int64_t>(data.scalar_type()), data.dim()};
  for (int64_t d = 0; d < data.dim(); ++d) header.push_back(data.size(d));
  const size_t header_bytes = header.size() * sizeof(std::int64_t);
  FQ_CHECK(header_bytes + data.nbytes() <= static_cast<size_t>(std::numeric_limits<int>::max()),
           "tensor stream: a tensor of ", data.nbytes(), " bytes is too large for one message");
  release_completed();
  Pending& p = pending_.emplace_back();
  p.bytes.resize(header_bytes + data.nbytes());
  std::memcpy(p.bytes.data(), header.data(), header_bytes);
  if (data.nbytes() > 0) std::memcpy(p.bytes.data() + header_bytes, data.data_ptr(), data.nbytes());
  MPI_CHECK(MPI_Isend(p.bytes.data(), static_cast<int>(p.bytes.size()), MPI_BYTE, receiver_, kTagTensorStream,
                      world_.comm(), &p.request));
}

void TensorStream::release_completed() {
  while (!pending_.empty()) {
    int done = 0;
    MPI_CHECK(MPI_Test(&pending_.front().request, &done, MPI_STATUS_IGNORE));
    if (!done) return;
    pending_.pop_front();
  }
}

void TensorStream::flush() {
  while (!pending_.empty()) {
    release_completed();
    if (!pending_.empty()) std::this_thread::sleep_for(kPollInterval);
  }
}

at::Tensor TensorStream::poll() {
  FQ_CHECK(world_.rank() == receiver_, "tensor stream: rank ", world_.rank(), " receives on the stream of rank ",
           receiver_);
  int arrived = 0;
  MPI_Status status;
  MPI_CHECK(MPI_Iprobe(sender_, kTagTensorStream, world_.comm(), &arrived, &status));
  if (!arrived) return {};
  int bytes = 0;
  MPI_CHECK(MPI_Get_count(&status, MPI_BYTE, &bytes));
  std::vector<char> message(static_cast<size_t>(bytes));
  MPI_CHECK(MPI_Recv(message.data(), bytes, MPI_BYTE, sender_, kTagTensorStream, world_.comm(), MPI_STATUS_IGNORE));
  std::int64_t dtype = -1, dims = -1;
  if (message.size() >= 2 * sizeof(std::int64_t)) {
    std::memcpy(&dtype, message.data(), sizeof dtype);
    std::memcpy(&dims, message.data() + sizeof dtype, sizeof dims);
  }
  FQ_CHECK(dtype >= 0 && dtype < static_cast<std::int64_t>(c10::ScalarType::NumOptions) && dims >= 0 &&
               dims <= kMaxTransferDims && message.size() >= static_cast<size_t>(2 + dims) * sizeof(std::int64_t),
           "tensor stream: corrupt message of ", bytes, " bytes from rank ", sender_, " on rank ", receiver_);
  std::vector<std::int64_t> sizes(static_cast<size_t>(dims));
  std::memcpy(sizes.data(), message.data() + 2 * sizeof(std::int64_t), sizes.size() * sizeof(std::int64_t));
  const size_t header_bytes = (2 + sizes.size()) * sizeof(std::int64_t);
  at::Tensor tensor = at::empty(sizes, at::TensorOptions().dtype(static_cast<c10::ScalarType>(dtype)));
  FQ_CHECK(header_bytes + tensor.nbytes() == message.size(), "tensor stream: a message of ", bytes,
           " bytes from rank ", sender_, " does not hold the tensor its header describes");
  if (tensor.nbytes() > 0) std::memcpy(tensor.data_ptr(), message.data() + header_bytes, tensor.nbytes());
  return tensor;
}

at::Tensor TensorStream::next() {
  for (;;) {
    if (at::Tensor t = poll(); t.defined()) return t;
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace fq::cluster
