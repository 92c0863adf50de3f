#include "cluster/slurm/sbatch_submit.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "tests/support/shared_dir.h"

namespace fq::cluster {
namespace {

// Puts a fake `sbatch` first on PATH for the duration of a test.
class FakeSbatch : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir(std::string("sbatch_submit_") +
                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    saved_path_ = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
    ::setenv("PATH", (dir_ + ":" + saved_path_).c_str(), 1);
  }
  void TearDown() override { ::setenv("PATH", saved_path_.c_str(), 1); }
  void fake(const std::string& body) {
    write_file_atomic(dir_ + "/sbatch", "#!/bin/bash\necho \"$@\" > " + dir_ + "/args\n" + body + "\n");
    ::chmod((dir_ + "/sbatch").c_str(), 0755);
  }
  std::string dir_, saved_path_;
};

TEST_F(FakeSbatch, ReturnsTheJobIdAndPassesTheArguments) {
  fake("echo 'sbatch: warning: something harmless' >&2\necho '4242;cluster-a'");
  EXPECT_EQ(submit_sbatch("/runs/a b/job.sbatch", {"--dependency=afterany:41"}), "4242");
  EXPECT_EQ(read_file(dir_ + "/args"), "--parsable --dependency=afterany:41 /runs/a b/job.sbatch\n");
}

TEST_F(FakeSbatch, FailureCarriesSbatchsMessage) {
  fake("echo 'sbatch: error: Invalid partition name specified' >&2\nexit 1");
  try {
    submit_sbatch("job.sbatch");
    FAIL() << "a failing sbatch must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Invalid partition name"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("job.sbatch"), std::string::npos) << e.what();
  }
}

TEST_F(FakeSbatch, OutputWithoutAJobIdIsAnError) {
  fake("echo 'Submitted nothing'");
  EXPECT_THROW(submit_sbatch("job.sbatch"), Error);
}

}  // namespace
}  // namespace fq::cluster
