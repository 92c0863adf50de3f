// A throw-away single-host Slurm cluster for one test (single_host_slurm.sh): started in a fresh temporary
// directory, stopped (exactly its daemons) when the object ends, whatever happened in between.
#pragma once

#include <chrono>
#include <string>
#include <thread>

#include "tests/support/child_process.h"

namespace fq::test {

class SingleHostSlurm {
 public:
  SingleHostSlurm();
  ~SingleHostSlurm();
  SingleHostSlurm(const SingleHostSlurm&) = delete;
  SingleHostSlurm& operator=(const SingleHostSlurm&) = delete;

  bool skipped() const;  // Slurm cannot run here (not root, packages missing): the start log says why
  bool up() const;
  const std::string& start_log() const { return start_log_; }
  std::string conf() const { return dir_ + "/slurm.conf"; }  // SLURM_CONF for sbatch, scancel, scontrol
  std::string logs() const;                                  // slurmctld and slurmd logs, for diagnostics

 private:
  std::string dir_;
  ChildExit start_;
  std::string start_log_;
};

// The content of `path`, or "" when it does not exist (yet).
std::string file_or_empty(const std::string& path);

// Monotonic seconds, for measured durations.
double seconds_now();

// Polls `done` every 100 ms for up to `seconds`; returns whether it held.
template <typename Predicate>
bool wait_until(double seconds, Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

}  // namespace fq::test
