#include "cluster/tensor_transfer.h"

#include <ATen/ATen.h>
#include <mpi.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "cluster/chunked_transfer.h"
#include "cluster/mpi_check.h"
#include "cluster/mpi_world.h"
#include "cluster/nccl_comm.h"
#include "lib/core/error.h"

namespace fq::cluster {
namespace {

// Header layout (int64 each): magic, version, dtype, ndim, transport, chunk bytes, sizes[kMaxTransferDims].
constexpr std::int64_t kMagic = 0x46515453;  // "FQTS"
constexpr std::int64_t kVersion = 1;
constexpr int kHeaderLength = 6 + kMaxTransferDims;
enum Field { kFieldMagic = 0, kFieldVersion, kFieldDtype, kFieldDims, kFieldTransport, kFieldChunk, kFieldSizes };
enum Transport : std::int64_t { kTransportMpi = 0, kTransportNccl = 1 };
using Header = std::array<std::int64_t, kHeaderLength>;
// Adds at most this much latency to a hand-off that takes milliseconds to seconds.
constexpr auto kHeaderPollInterval = std::chrono::microseconds(200);

void check_peer(const MpiWorld& world, int peer, const char* what) {
  FQ_CHECK(peer >= 0 && peer < world.size() && peer != world.rank(), what, " on rank ", world.rank(), ": peer rank ",
           peer, " is not another rank of the ", world.size(), "-rank job");
}

}  // namespace

void send_tensor(const MpiWorld& world, const at::Tensor& tensor, int dst, NcclComm* nccl) {
  check_peer(world, dst, "send_tensor");
  FQ_CHECK(tensor.defined() && tensor.layout() == c10::kStrided, "send_tensor on rank ", world.rank(),
           ": only defined dense tensors can be sent");
  FQ_CHECK(tensor.dim() <= kMaxTransferDims, "send_tensor on rank ", world.rank(), ": tensor has ", tensor.dim(),
           " dimensions, at most ", kMaxTransferDims, " are supported");
  const bool over_nccl = tensor.is_cuda() && nccl != nullptr;
  Header header{};
  header[kFieldMagic] = kMagic;
  header[kFieldVersion] = kVersion;
  header[kFieldDtype] = static_cast<std::int64_t>(tensor.scalar_type());
  header[kFieldDims] = tensor.dim();
  header[kFieldTransport] = over_nccl ? kTransportNccl : kTransportMpi;
  header[kFieldChunk] = static_cast<std::int64_t>(mpi_chunk_bytes());
  for (int d = 0; d < tensor.dim(); ++d) header[kFieldSizes + d] = tensor.size(d);
  MPI_CHECK(MPI_Send(header.data(), kHeaderLength, MPI_INT64_T, dst, kTagTensorHeader, world.comm()));

  if (over_nccl) {
#if FLATQUANT_HAVE_NCCL
    nccl->send(tensor.contiguous(), dst);
#endif
    return;
  }
  const at::Tensor host = tensor.to(at::kCPU).contiguous();
  send_chunked(world, host.data_ptr(), host.nbytes(), mpi_chunk_bytes(), dst, kTagTensor);
}

at::Tensor recv_tensor(const MpiWorld& world, int src, const c10::Device& device, NcclComm* nccl) {
  check_peer(world, src, "recv_tensor");
  // The next rank of the chain may wait here for hours while its predecessor computes. MPI_Recv would
  // spin a core all that time; polling with a short sleep leaves it to the rest of the node's work.
  Header header{};
  MPI_Request request = MPI_REQUEST_NULL;
  MPI_CHECK(MPI_Irecv(header.data(), kHeaderLength, MPI_INT64_T, src, kTagTensorHeader, world.comm(), &request));
  for (int done = 0;;) {
    MPI_CHECK(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
    if (done) break;
    std::this_thread::sleep_for(kHeaderPollInterval);
  }
  FQ_CHECK(header[kFieldMagic] == kMagic && header[kFieldVersion] == kVersion, "recv_tensor on rank ", world.rank(),
           ": the message from rank ", src, " is not a tensor header of this flatquant version");
  const std::int64_t dims = header[kFieldDims];
  const std::int64_t dtype = header[kFieldDtype];
  FQ_CHECK(dims >= 0 && dims <= kMaxTransferDims && dtype >= 0 &&
               dtype < static_cast<std::int64_t>(c10::ScalarType::NumOptions),
           "recv_tensor on rank ", world.rank(), ": corrupt tensor header from rank ", src, " (dims ", dims, ", dtype ",
           dtype, ")");
  std::vector<std::int64_t> sizes(header.begin() + kFieldSizes, header.begin() + kFieldSizes + dims);
  const auto options = at::TensorOptions().dtype(static_cast<c10::ScalarType>(dtype));

  if (header[kFieldTransport] == kTransportNccl) {
    FQ_CHECK(nccl != nullptr, "recv_tensor on rank ", world.rank(), ": rank ", src,
             " sent a CUDA tensor over NCCL but this rank passed no NCCL communicator");
#if FLATQUANT_HAVE_NCCL
    at::Tensor received = at::empty(sizes, options.device(c10::Device(c10::kCUDA, nccl->device_index())));
    nccl->recv(received, src);
    return received.to(device);
#endif
  }
  // Page-locked staging memory makes the copy to the GPU faster; it needs CUDA, which a CUDA target implies.
  at::Tensor received = at::empty(sizes, options.pinned_memory(device.is_cuda()));
  recv_chunked(world, received.data_ptr(), received.nbytes(), static_cast<std::size_t>(header[kFieldChunk]), src,
               kTagTensor);
  return device.is_cpu() ? received : received.to(device);
}

}  // namespace fq::cluster
