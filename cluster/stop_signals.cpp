#include "cluster/stop_signals.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cluster/collectives.h"
#include "cluster/mpi_world.h"
#include "lib/core/error.h"
#include "lib/core/log.h"
#include "lib/core/stop_flag.h"

namespace fq::cluster {
namespace {

void write_stderr(const char* text) {
  // write(2) is async-signal-safe; its result does not matter here.
  ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

void on_stop_signal(int signal_number) {
  if (signal_number == SIGINT && stop_requested()) {
    write_stderr("flatquant: second interrupt, exiting now without saving\n");
    ::_exit(128 + SIGINT);
  }
  request_stop(signal_number);
  switch (signal_number) {
    case SIGTERM: write_stderr("flatquant: SIGTERM: finishing the current step, saving, then exiting with 75\n"); break;
    case SIGUSR1: write_stderr("flatquant: SIGUSR1: finishing the current step, saving, then exiting with 75\n"); break;
    default: write_stderr("flatquant: interrupted: finishing the current step, saving, then exiting with 75 "
                          "(interrupt again to exit now)\n");
  }
}

}  // namespace

void install_stop_signal_handlers() {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int signal_number : {SIGTERM, SIGUSR1, SIGINT}) {
    FQ_CHECK(::sigaction(signal_number, &action, nullptr) == 0, "cannot install the handler for signal ",
             signal_number, ": ", std::strerror(errno));
  }
}

bool any_rank_stop_requested(const MpiWorld& world) {
  const std::vector<std::int64_t> any =
      allreduce(world, std::vector<std::int64_t>{stop_requested() ? 1 : 0, stop_signal()}, ReduceOp::kMax);
  if (any[0] == 0) return false;
  if (!stop_requested()) {
    request_stop(static_cast<int>(any[1]));
    log::info("cluster", "another rank asked to stop; stopping at this step", {{"signal", static_cast<int>(any[1])}});
  }
  return true;
}

}  // namespace fq::cluster
