// A small MPI program that misbehaves on purpose, for the failure tests (failures/mpi_failure_test.cpp):
//
//   fault_drill kill  <dir> <victim>  the victim kills itself with SIGKILL while the others wait on it
//   fault_drill throw <dir> <victim>  the victim throws; the exception unwinds through MpiWorld
//   fault_drill stop  <dir>           all ranks step in lockstep until one gets a stop signal, then exit 75
//
// Every rank writes <dir>/pid.<rank> once running; the victim writes <dir>/fault_time (seconds since the
// epoch) just before failing; in `stop` mode each rank writes <dir>/stopped.<rank>: "<step> <signal>".
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "cluster/collectives.h"
#include "cluster/mpi_world.h"
#include "cluster/stop_signals.h"
#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/exit_codes.h"
#include "lib/core/stop_flag.h"

namespace {

double epoch_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int run(int argc, char** argv) {
  fq::cluster::MpiWorld world(&argc, &argv);
  FQ_CHECK(argc >= 3, "usage: fault_drill kill|throw|stop <dir> [victim]");
  const std::string mode = argv[1], dir = argv[2];
  const int victim = argc > 3 ? std::stoi(argv[3]) : -1;
  fq::cluster::install_stop_signal_handlers();
  fq::write_file_atomic(dir + "/pid." + std::to_string(world.rank()), std::to_string(::getpid()));
  fq::cluster::barrier(world);

  if (mode == "kill" || mode == "throw") {
    if (world.rank() == victim) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the others are waiting by now
      fq::write_file_atomic(dir + "/fault_time", std::to_string(epoch_seconds()));
      if (mode == "kill") ::raise(SIGKILL);
      throw fq::Error("fault_drill: rank " + std::to_string(victim) + " fails on purpose");
    }
    fq::cluster::barrier(world);  // never completes: the victim is gone
    return fq::kExitOk;
  }
  FQ_CHECK(mode == "stop", "unknown mode ", mode);
  for (int step = 0; step < 100000; ++step) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the work of one step
    if (fq::cluster::any_rank_stop_requested(world)) {
      fq::write_file_atomic(dir + "/stopped." + std::to_string(world.rank()),
                            std::to_string(step) + " " + std::to_string(fq::stop_signal()));
      return fq::kExitResume;
    }
  }
  return fq::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fault_drill: %s\n", e.what());
    return fq::kExitFailure;
  }
}
