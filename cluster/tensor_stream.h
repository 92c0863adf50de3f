// A one-way stream of small CPU tensors from one rank to another, in order, in which the sender never
// waits for the receiver.
//
// Why not send_tensor: the pipelined evaluation's last stage returns each micro-batch's results to rank 0,
// which is also the first stage, busy handing hidden states down the chain with blocking sends. Blocking
// sends both ways would close a cycle (rank 0 waits for rank 1 to take micro-batch i + 1 while the last rank
// waits for rank 0 to take the results of micro-batch i). Here the sender posts non-blocking sends and
// goes on; the receiver polls between its own steps and collects what has arrived.
#pragma once

#include <mpi.h>

#include <deque>
#include <vector>

#include <ATen/core/Tensor.h>

namespace fq::cluster {

class MpiWorld;

class TensorStream {
 public:
  // Not collective: only `sender` and `receiver` (two different ranks) use it.
  TensorStream(const MpiWorld& world, int sender, int receiver);
  // Never blocks. Sends still in flight (only after an error: flush() ends every normal use) keep their
  // buffers, deliberately leaked: the job is failing, and freeing memory MPI may still read is worse.
  ~TensorStream();
  TensorStream(const TensorStream&) = delete;
  TensorStream& operator=(const TensorStream&) = delete;

  // Sender: posts a copy of `tensor` (CPU, any dtype and layout, up to kMaxTransferDims dimensions, under
  // 2 GiB) and returns at once.
  void post(const at::Tensor& tensor);
  // Sender: waits until every posted tensor has left (the receiver must be collecting them).
  void flush();

  // Receiver: the next tensor when it has arrived, else an undefined tensor.
  at::Tensor poll();
  // Receiver: the next tensor, waiting for it (polling with short sleeps, so a waiting rank leaves its
  // core to the node's other work).
  at::Tensor next();

 private:
  struct Pending {
    std::vector<char> bytes;
    MPI_Request request = MPI_REQUEST_NULL;
  };
  void release_completed();

  const MpiWorld& world_;
  int sender_;
  int receiver_;
  std::deque<Pending> pending_;
};

}  // namespace fq::cluster
