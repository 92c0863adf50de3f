// How a job of several ranks ends when one of them fails or is asked to stop, run through mpirun with
// tests/mpi/fault_drill.cpp. The bounds are the promise made in cluster/README.md: fail fast, never hang.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "lib/core/atomic_file.h"
#include "lib/core/exit_codes.h"
#include "tests/support/child_process.h"
#include "tests/support/shared_dir.h"

namespace fq {
namespace {

// From a rank's death to mpirun's exit. Open MPI notices a dead rank within about a second; the bound
// leaves room for a loaded two-core CI machine.
constexpr double kFailFastBoundSeconds = 10.0;
// A whole drill, including MPI start-up: generous, it only catches hangs.
constexpr double kDrillTimeoutSeconds = 60.0;

std::vector<std::string> mpirun(int ranks, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {FQ_MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", std::to_string(ranks),
                                   FQ_FAULT_DRILL};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

double epoch_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool wait_for_files(const std::string& dir, const std::string& prefix, int count, double seconds) {
  const double deadline = epoch_seconds() + seconds;
  while (epoch_seconds() < deadline) {
    int found = 0;
    for (int r = 0; r < count; ++r) found += std::filesystem::exists(dir + "/" + prefix + std::to_string(r));
    if (found == count) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST(MpiFailure, RankKilledBySigkillEndsTheJobFast) {
  const std::string dir = test::scratch_dir("mpi_failure_kill");
  test::ChildProcess job(mpirun(3, {"kill", dir, "1"}), dir + "/mpirun.log");
  const test::ChildExit result = job.wait(kDrillTimeoutSeconds);
  const double ended = epoch_seconds();
  ASSERT_FALSE(result.timed_out) << "mpirun hung after a rank died:\n" << job.output();
  EXPECT_NE(result.code, 0) << job.output();
  ASSERT_TRUE(std::filesystem::exists(dir + "/fault_time")) << job.output();
  const double latency = ended - std::stod(read_file(dir + "/fault_time"));
  std::printf("[ measure  ] SIGKILL of rank 1 of 3 -> mpirun exit %d after %.2f s\n", result.code, latency);
  EXPECT_LT(latency, kFailFastBoundSeconds) << job.output();
}

TEST(MpiFailure, ExceptionOnOneRankAbortsTheJobFast) {
  const std::string dir = test::scratch_dir("mpi_failure_throw");
  test::ChildProcess job(mpirun(3, {"throw", dir, "2"}), dir + "/mpirun.log");
  const test::ChildExit result = job.wait(kDrillTimeoutSeconds);
  const double ended = epoch_seconds();
  ASSERT_FALSE(result.timed_out) << "mpirun hung after a rank threw:\n" << job.output();
  EXPECT_EQ(result.code, kExitFailure) << job.output();
  EXPECT_NE(job.output().find("aborting the MPI job"), std::string::npos) << job.output();
  const double latency = ended - std::stod(read_file(dir + "/fault_time"));
  std::printf("[ measure  ] exception on rank 2 of 3 -> mpirun exit %d after %.2f s\n", result.code, latency);
  EXPECT_LT(latency, kFailFastBoundSeconds) << job.output();
}

TEST(MpiFailure, SigtermToOneRankStopsEveryRankWithExitResume) {
  const std::string dir = test::scratch_dir("mpi_failure_stop");
  constexpr int kRanks = 3;
  test::ChildProcess job(mpirun(kRanks, {"stop", dir}), dir + "/mpirun.log");
  ASSERT_TRUE(wait_for_files(dir, "pid.", kRanks, kDrillTimeoutSeconds)) << job.output();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a few steps in
  const pid_t rank1 = static_cast<pid_t>(std::stol(read_file(dir + "/pid.1")));
  const double sent = epoch_seconds();
  ASSERT_EQ(::kill(rank1, SIGTERM), 0);
  const test::ChildExit result = job.wait(kDrillTimeoutSeconds);
  ASSERT_FALSE(result.timed_out) << job.output();
  std::printf("[ measure  ] SIGTERM to rank 1 of 3 -> mpirun exit %d after %.2f s\n", result.code,
              epoch_seconds() - sent);
  EXPECT_EQ(result.code, kExitResume) << job.output();
  // Every rank stopped at the same step (lockstep) and knows the signal that asked for it.
  std::string first;
  for (int r = 0; r < kRanks; ++r) {
    const std::string path = dir + "/stopped." + std::to_string(r);
    ASSERT_TRUE(std::filesystem::exists(path)) << "rank " << r << " did not stop cleanly:\n" << job.output();
    const std::string stopped = read_file(path);
    EXPECT_EQ(stopped.substr(stopped.find(' ') + 1), std::to_string(SIGTERM)) << "rank " << r;
    if (r == 0) first = stopped;
    EXPECT_EQ(stopped, first) << "rank " << r << " stopped at another step";
  }
}

}  // namespace
}  // namespace fq
