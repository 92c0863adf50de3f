// This process's place in the MPI job: rank, size, node-local rank, node and host.
//
// Construct exactly one MpiWorld at the top of main(), before anything else uses MPI; it works when
// started by `mpirun`, by `srun --mpi=pmix`, and as a plain process (MPI singleton: size 1).
// Collectives live in collectives.h, tensor transfers in tensor_transfer.h.
#pragma once

#include <mpi.h>

#include <functional>
#include <string>
#include <vector>

namespace fq::cluster {

class MpiWorld {
 public:
  // Initialises MPI with MPI_THREAD_FUNNELED (only the main thread calls MPI) unless the program already
  // did, duplicates MPI_COMM_WORLD into a private communicator with MPI_ERRORS_RETURN (failures become
  // fq::Error through MPI_CHECK), finds the node layout, and sets the log rank (fq::log::set_rank).
  MpiWorld(int* argc = nullptr, char*** argv = nullptr);
  // Frees the communicators and finalises MPI when this object initialised it. When an exception is
  // unwinding through it in a job of several ranks, it calls MPI_Abort instead: the other ranks may be
  // waiting on this one and would hang in MPI_Finalize (fail fast, never hang).
  ~MpiWorld();
  MpiWorld(MpiWorld&& other) noexcept;
  MpiWorld& operator=(MpiWorld&& other) noexcept;
  MpiWorld(const MpiWorld&) = delete;
  MpiWorld& operator=(const MpiWorld&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  // Rank among the processes sharing this node's memory (MPI_COMM_TYPE_SHARED), and their number.
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  // Nodes are numbered 0..node_count()-1 in the order of their lowest rank.
  int node_index() const { return node_of_rank_[rank_]; }
  int node_count() const { return node_count_; }
  // Node index of every rank (size() entries): the input shard plans need for expert groups.
  const std::vector<int>& node_of_rank() const { return node_of_rank_; }
  const std::string& hostname() const { return hostname_; }
  // The private duplicate of MPI_COMM_WORLD every cluster/ call uses (same ranks).
  MPI_Comm comm() const { return comm_; }

  // Ends the whole job now (MPI_Abort with `exit_code`) after logging `reason` on this rank: for an error
  // on one rank while the others may be waiting on it.
  [[noreturn]] void abort(int exit_code, const std::string& reason) const;

 private:
  void release() noexcept;

  bool owns_mpi_ = false;  // this object called MPI_Init_thread and must finalise
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
  int node_count_ = 1;
  std::vector<int> node_of_rank_{0};
  std::string hostname_;
};

// Runs a command's work on this process's rank: `body` gets the world. An exception on a rank of several
// ends the whole job (MpiWorld::abort with exit 1, after its message) instead of leaving the other ranks
// waiting on this one forever; on a single rank it reaches the caller.
int run_with_world(const std::function<int(MpiWorld&)>& body);

}  // namespace fq::cluster
