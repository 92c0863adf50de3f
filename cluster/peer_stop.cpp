#include "cluster/peer_stop.h"

#include "cluster/mpi_check.h"
#include "cluster/mpi_world.h"
#include "lib/core/log.h"
#include "lib/core/stop_flag.h"

namespace fq::cluster {
namespace {
constexpr int kStopTag = 75;
}  // namespace

PeerStopChannel::PeerStopChannel(const MpiWorld& world) : rank_(world.rank()), size_(world.size()) {
  MPI_CHECK(MPI_Comm_dup(world.comm(), &comm_));
}

PeerStopChannel::~PeerStopChannel() {
  drain();
  for (MPI_Request& r : sends_) MPI_Request_free(&r);
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

void PeerStopChannel::drain() {
  int flag = 1;
  while (flag && comm_ != MPI_COMM_NULL) {
    MPI_Status status;
    flag = 0;
    MPI_Iprobe(MPI_ANY_SOURCE, kStopTag, comm_, &flag, &status);
    if (flag) {
      char byte;
      MPI_Recv(&byte, 1, MPI_CHAR, status.MPI_SOURCE, kStopTag, comm_, MPI_STATUS_IGNORE);
      if (!stop_requested()) {
        request_stop(0);
        log::info("cluster", "rank stopped by a peer", {{"from_rank", status.MPI_SOURCE}});
      }
      notified_ = true;  // the peer told everyone already
    }
  }
}

bool PeerStopChannel::should_stop() {
  drain();
  if (stop_requested() && !notified_) {
    notified_ = true;
    for (int peer = 0; peer < size_; ++peer) {
      if (peer == rank_) continue;
      sends_.emplace_back();
      MPI_CHECK(MPI_Isend(&payload_, 1, MPI_CHAR, peer, kStopTag, comm_, &sends_.back()));
    }
  }
  return stop_requested();
}

}  // namespace fq::cluster
