// Stops that reach every rank even when ranks are not in lockstep (each calibrating its own layers).
// The first rank that stops (a signal delivered to it alone, or a stop marker on the capture chain) sends a
// one-byte message to every other rank on a private communicator; the others poll for it between steps
// and stop at their next step boundary. any_rank_stop_requested (stop_signals.h) remains the collective
// check where ranks are in step.
#pragma once

#include <mpi.h>

#include <vector>

namespace fq::cluster {

class MpiWorld;

class PeerStopChannel {
 public:
  explicit PeerStopChannel(const MpiWorld& world);  // collective: every rank constructs it
  ~PeerStopChannel();                               // collective: every rank destroys it
  PeerStopChannel(const PeerStopChannel&) = delete;
  PeerStopChannel& operator=(const PeerStopChannel&) = delete;

  // True when this rank must stop: its own stop flag is set (then, once, the peers are told) or a peer
  // told it (then its flag is set too).
  bool should_stop();

 private:
  void drain();
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  bool notified_ = false;
  std::vector<MPI_Request> sends_;
  char payload_ = 1;
};

}  // namespace fq::cluster
