#include "cluster/mpi_world.h"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <utility>

#include "cluster/host_name.h"
#include "cluster/mpi_check.h"
#include "lib/core/error.h"
#include "lib/core/exit_codes.h"
#include "lib/core/log.h"

namespace fq::cluster {

MpiWorld::MpiWorld(int* argc, char*** argv) : hostname_(host_name()) {
  int initialized = 0, finalized = 0;
  MPI_CHECK(MPI_Initialized(&initialized));
  MPI_CHECK(MPI_Finalized(&finalized));
  FQ_CHECK(!finalized, "MPI was already finalised in this process: create a single MpiWorld at the top of main()");
  if (!initialized) {
    int provided = 0;
    MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    owns_mpi_ = true;
    FQ_CHECK(provided >= MPI_THREAD_FUNNELED, "the MPI library provides thread level ", provided,
             " but flatquant needs MPI_THREAD_FUNNELED (", MPI_THREAD_FUNNELED, ")");
  }
  MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm_));
  MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  MPI_CHECK(MPI_Comm_size(comm_, &size_));
  log::set_rank(rank_, size_);

  // Node layout: ranks sharing memory form a node; a node is named by its lowest world rank, and nodes
  // are numbered in the order of those ranks, so the numbering is the same on every rank.
  MPI_Comm node_comm = MPI_COMM_NULL;
  MPI_CHECK(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node_comm));
  MPI_CHECK(MPI_Comm_rank(node_comm, &local_rank_));
  MPI_CHECK(MPI_Comm_size(node_comm, &local_size_));
  int node_leader = rank_;
  MPI_CHECK(MPI_Allreduce(&rank_, &node_leader, 1, MPI_INT, MPI_MIN, node_comm));
  MPI_CHECK(MPI_Comm_free(&node_comm));
  std::vector<int> leader_of_rank(size_);
  MPI_CHECK(MPI_Allgather(&node_leader, 1, MPI_INT, leader_of_rank.data(), 1, MPI_INT, comm_));
  std::vector<int> leaders = leader_of_rank;
  std::sort(leaders.begin(), leaders.end());
  leaders.erase(std::unique(leaders.begin(), leaders.end()), leaders.end());
  node_count_ = static_cast<int>(leaders.size());
  node_of_rank_.resize(size_);
  for (int r = 0; r < size_; ++r) {
    node_of_rank_[r] = static_cast<int>(std::lower_bound(leaders.begin(), leaders.end(), leader_of_rank[r]) - leaders.begin());
  }
  log::debug("cluster", "mpi world", {{"host", hostname_}, {"local_rank", local_rank_}, {"local_size", local_size_},
                                      {"node", node_index()}, {"nodes", node_count_}});
}

MpiWorld::~MpiWorld() {
  if (comm_ != MPI_COMM_NULL && size_ > 1 && std::uncaught_exceptions() > 0) {
    abort(kExitFailure, "an error is unwinding through MpiWorld; aborting the job so that no rank waits forever");
  }
  release();
}

MpiWorld::MpiWorld(MpiWorld&& other) noexcept { *this = std::move(other); }

MpiWorld& MpiWorld::operator=(MpiWorld&& other) noexcept {
  if (this != &other) {
    release();
    owns_mpi_ = std::exchange(other.owns_mpi_, false);
    comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
    rank_ = other.rank_;
    size_ = other.size_;
    local_rank_ = other.local_rank_;
    local_size_ = other.local_size_;
    node_count_ = other.node_count_;
    node_of_rank_ = other.node_of_rank_;
    hostname_ = other.hostname_;
  }
  return *this;
}

void MpiWorld::release() noexcept {
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  comm_ = MPI_COMM_NULL;
  if (owns_mpi_) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
    owns_mpi_ = false;
  }
}

void MpiWorld::abort(int exit_code, const std::string& reason) const {
  log::error("cluster", "aborting the MPI job", {{"reason", reason}, {"exit_code", exit_code}, {"host", hostname_}});
  MPI_Abort(comm_ != MPI_COMM_NULL ? comm_ : MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // MPI_Abort does not return; this keeps [[noreturn]] true if it ever did
}

int run_with_world(const std::function<int(MpiWorld&)>& body) {
  MpiWorld world;
  try {
    return body(world);
  } catch (const std::exception& e) {
    if (world.size() > 1) world.abort(kExitFailure, e.what());
    throw;
  }
}

}  // namespace fq::cluster
