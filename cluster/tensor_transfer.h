// Point-to-point tensor transfer between ranks: how the full-precision forward hands a layer's output
// activations from the owner of layer i to the owner of layer i+1.
//
// A fixed-size header (dtype, shape, transport) goes over MPI, then the data: CPU tensors over MPI in
// chunks (any size), CUDA tensors over NCCL when a communicator is given, otherwise staged through host
// memory over MPI. Calls block until the transfer is done on this side; every send_tensor on one rank
// pairs with one recv_tensor on the other, in the same order.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace fq::cluster {

class MpiWorld;
class NcclComm;

// Largest number of dimensions a transferred tensor may have.
constexpr int kMaxTransferDims = 10;

// Sends `tensor` (any dtype and shape up to kMaxTransferDims, CPU or CUDA, contiguous or not) to `dst`.
void send_tensor(const MpiWorld& world, const at::Tensor& tensor, int dst, NcclComm* nccl = nullptr);

// Receives what send_tensor on `src` sent and returns it on `device`. When the sender used NCCL, `nccl`
// must be this rank's communicator (the data lands on its GPU first).
at::Tensor recv_tensor(const MpiWorld& world, int src, const c10::Device& device = c10::Device(c10::kCPU),
                       NcclComm* nccl = nullptr);

}  // namespace fq::cluster
