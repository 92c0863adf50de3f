// A resumable two-rank computation for the Slurm requeue test (slurm_requeue_test.cpp): the pattern a
// flatquant pipeline follows, in miniature.
//
//   resumable_counter <dir> <steps> <step_ms>
//
// Each step every rank contributes a number, the sum is folded into a running 64-bit value, and rank 0
// saves {step, value} atomically to <dir>/progress.json. At every step boundary the ranks check, together,
// whether any of them got a stop signal; if so they exit 75 ("resume me"). A later run resumes from the
// saved step. The final value goes to <dir>/result; <dir>/history gets one line per start and stop, with
// SLURM_RESTART_COUNT, as the test's evidence of the requeue.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "cluster/collectives.h"
#include "cluster/mpi_world.h"
#include "cluster/run_lock.h"
#include "cluster/stop_signals.h"
#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/exit_codes.h"
#include "lib/core/json.h"
#include "lib/core/log.h"
#include "lib/core/stop_flag.h"

namespace {

using fq::cluster::MpiWorld;

void append_history(const std::string& dir, const std::string& line) {
  std::ofstream(dir + "/history", std::ios::app) << line << std::endl;
}

int run(int argc, char** argv) {
  MpiWorld world(&argc, &argv);
  FQ_CHECK(argc == 4, "usage: resumable_counter <dir> <steps> <step_ms>");
  const std::string dir = argv[1];
  const std::int64_t steps = std::stoll(argv[2]);
  const int step_ms = std::stoi(argv[3]);
  fq::cluster::install_stop_signal_handlers();
  const auto lock = fq::cluster::lock_run_directory(world, dir);
  const char* restart_env = std::getenv("SLURM_RESTART_COUNT");
  const std::string restart = restart_env ? restart_env : "0";
  const std::string progress_path = dir + "/progress.json";

  // Resume: rank 0 reads the saved progress and every rank starts from it.
  std::string saved;
  if (world.is_root() && std::ifstream(progress_path).good()) saved = fq::read_file(progress_path);
  saved = fq::cluster::broadcast_bytes(world, saved);
  std::int64_t step = 0;
  std::uint64_t value = 1469598103934665603ull;
  if (!saved.empty()) {
    const fq::Json j = fq::Json::parse(saved);
    step = fq::json_get<std::int64_t>(j, "step", progress_path);
    value = fq::json_get<std::uint64_t>(j, "value", progress_path);
  }
  if (world.is_root()) append_history(dir, "start " + std::to_string(step) + " restart " + restart);
  fq::log::info("counter", "running", {{"from_step", static_cast<long long>(step)}, {"restart", restart}});

  for (; step < steps; ++step) {
    std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));
    const std::int64_t contribution = (world.rank() + 1) * (step + 3);
    const std::int64_t sum = fq::cluster::allreduce(world, std::vector<std::int64_t>{contribution},
                                                    fq::cluster::ReduceOp::kSum)[0];
    value = (value ^ static_cast<std::uint64_t>(sum)) * 1099511628211ull;
    if (world.is_root()) {
      fq::write_json_file_atomic(progress_path, fq::Json{{"step", step + 1}, {"value", value}});
    }
    if (fq::cluster::any_rank_stop_requested(world)) {
      if (world.is_root()) {
        append_history(dir, "stop " + std::to_string(step + 1) + " signal " + std::to_string(fq::stop_signal()));
      }
      fq::log::info("counter", "stopping to be resumed", {{"saved_step", static_cast<long long>(step + 1)}});
      return fq::kExitResume;
    }
  }
  if (world.is_root()) {
    fq::write_file_atomic(dir + "/result", std::to_string(value) + "\n");
    append_history(dir, "done " + std::to_string(steps));
  }
  return fq::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "resumable_counter: %s\n", e.what());
    return fq::kExitFailure;
  }
}
