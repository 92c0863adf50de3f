// `flatquant calibrate` over several ranks (mpirun on this host, CPU) on the tiny DeepSeek V3 model: the
// artifact does not depend on the number of ranks; SIGTERM to one rank stops the job with exit 75 and the
// run resumes with another number of ranks; a rank killed with SIGKILL ends the job fast and the run
// resumes; a second job on the same run directory is refused by the lock. Every resumed or re-sharded run
// must give the bitwise-identical transforms.h5 of the single-process run.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "flatquant_build_info.h"
#include "lib/core/atomic_file.h"
#include "lib/core/exit_codes.h"
#include "tests/support/archive_compare.h"
#include "tests/support/child_process.h"
#include "tests/support/shared_dir.h"

namespace fq {
namespace {

// From a rank's death to mpirun's exit; generous for a loaded two-core machine (cluster/README.md).
constexpr double kFailFastBoundSeconds = 15.0;
constexpr double kRunTimeoutSeconds = 900.0;
const std::vector<std::pair<std::string, std::string>> kOneThread{{"OMP_NUM_THREADS", "1"}};

std::vector<std::string> calibrate(int ranks, const std::string& out) {
  std::vector<std::string> argv;
  if (ranks > 0) argv = {FQ_MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", std::to_string(ranks), "-x",
                         "OMP_NUM_THREADS"};
  const std::vector<std::string> command{
      test::flatquant_binary(), "calibrate", "--config", std::string(FLATQUANT_SOURCE_DIR) + "/configs/tiny-deepseek-v3.yaml",
      "--set", "data.nsamples=8", "--set", "data.seqlen=128", "--set", "flatquant.epochs=3", "--out", out};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

// The processes whose parent is `parent` (mpirun's ranks), from /proc.
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string pid, comm, state;
    long ppid = 0;
    if (stat >> pid >> comm >> state >> ppid && ppid == parent && comm == "(flatquant)") out.push_back(std::stoi(pid));
  }
  return out;
}

bool wait_for(const std::string& path, test::ChildProcess& job, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!std::filesystem::exists(path) && job.running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::filesystem::exists(path) && job.running();
}

class CalibrateRanks : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!test::shared_available()) return;
    dir_ = test::scratch_dir("calibrate_ranks");
    const test::ChildExit e = test::run_child(calibrate(0, dir_ + "/reference"), dir_ + "/reference.log",
                                              kRunTimeoutSeconds, kOneThread);
    reference_ok_ = e.code == kExitOk;
  }
  void SetUp() override {
    FQ_REQUIRE_SHARED();
    ASSERT_TRUE(reference_ok_) << read_file(dir_ + "/reference.log");
  }
  static std::string reference() { return dir_ + "/reference/transforms.h5"; }
  static std::string dir_;
  static bool reference_ok_;
};
std::string CalibrateRanks::dir_;
bool CalibrateRanks::reference_ok_ = false;

TEST_F(CalibrateRanks, TwoAndThreeRanksGiveTheSingleProcessArtifact) {
  for (int ranks : {2, 3}) {
    const std::string out = dir_ + "/np" + std::to_string(ranks);
    const test::ChildExit e = test::run_child(calibrate(ranks, out), out + ".log", kRunTimeoutSeconds, kOneThread);
    ASSERT_EQ(e.code, kExitOk) << read_file(out + ".log");
    EXPECT_EQ(test::archive_difference(reference(), out + "/transforms.h5"), "") << ranks << " ranks";
  }
}

TEST_F(CalibrateRanks, SigtermToOneRankStopsTheJobWhichResumesOnOtherRanks) {
  const std::string out = dir_ + "/stopped";
  {
    test::ChildProcess job(calibrate(3, out), out + ".log", kOneThread);
    ASSERT_TRUE(wait_for(out + "/layers/layer_000.h5", job, kRunTimeoutSeconds)) << job.output();
    const std::vector<pid_t> ranks = children_of(job.pid());
    ASSERT_EQ(ranks.size(), 3u) << job.output();
    ::kill(ranks[1], SIGTERM);
    const test::ChildExit stopped = job.wait(120);
    ASSERT_FALSE(stopped.timed_out) << job.output();
    EXPECT_EQ(stopped.code, kExitResume) << job.output();
  }
  EXPECT_FALSE(std::filesystem::exists(out + "/transforms.h5"));
  const test::ChildExit resumed = test::run_child(calibrate(2, out), out + "-resumed.log", kRunTimeoutSeconds, kOneThread);
  ASSERT_EQ(resumed.code, kExitOk) << read_file(out + "-resumed.log");
  EXPECT_NE(read_file(out + "-resumed.log").find("layer already calibrated"), std::string::npos);
  EXPECT_EQ(test::archive_difference(reference(), out + "/transforms.h5"), "");
}

TEST_F(CalibrateRanks, SigkilledRankEndsTheJobFastAndTheRunResumes) {
  const std::string out = dir_ + "/killed";
  {
    test::ChildProcess job(calibrate(2, out), out + ".log", kOneThread);
    ASSERT_TRUE(wait_for(out + "/layers/layer_000.h5", job, kRunTimeoutSeconds)) << job.output();
    const std::vector<pid_t> ranks = children_of(job.pid());
    ASSERT_EQ(ranks.size(), 2u) << job.output();
    ::kill(ranks[1], SIGKILL);
    const auto killed_at = std::chrono::steady_clock::now();
    const test::ChildExit e = job.wait(60);
    const double latency = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
    ASSERT_FALSE(e.timed_out) << "mpirun hung after a rank died:\n" << job.output();
    EXPECT_NE(e.code, kExitOk);
    std::printf("[ measure  ] SIGKILL of rank 1 of 2 during calibration -> mpirun exit %d after %.2f s\n", e.code, latency);
    EXPECT_LT(latency, kFailFastBoundSeconds) << job.output();
  }
  const test::ChildExit resumed = test::run_child(calibrate(0, out), out + "-resumed.log", kRunTimeoutSeconds, kOneThread);
  ASSERT_EQ(resumed.code, kExitOk) << read_file(out + "-resumed.log");
  EXPECT_EQ(test::archive_difference(reference(), out + "/transforms.h5"), "");
}

TEST_F(CalibrateRanks, SecondJobOnTheSameRunDirectoryIsRefused) {
  const std::string out = dir_ + "/locked";
  test::ChildProcess first(calibrate(2, out), out + ".log", kOneThread);
  ASSERT_TRUE(wait_for(out + "/manifest.json", first, kRunTimeoutSeconds)) << first.output();
  const test::ChildExit second = test::run_child(calibrate(0, out), out + "-second.log", 120, kOneThread);
  EXPECT_EQ(second.code, kExitFailure) << read_file(out + "-second.log");
  EXPECT_NE(read_file(out + "-second.log").find("lock"), std::string::npos) << read_file(out + "-second.log");
  const test::ChildExit e = first.wait(kRunTimeoutSeconds);
  EXPECT_EQ(e.code, kExitOk) << first.output();
}

}  // namespace
}  // namespace fq
