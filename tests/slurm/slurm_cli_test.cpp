// `flatquant slurm` on the command line with a fake `sbatch` on PATH (no Slurm needed): the scripts it
// writes, the order and dependencies of its submissions, the job ids it prints, and exit code 2 naming the
// flag for bad evaluation requests.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "flatquant_build_info.h"
#include "lib/core/atomic_file.h"
#include "lib/core/exit_codes.h"
#include "tests/slurm/single_host_slurm.h"
#include "tests/support/child_process.h"
#include "tests/support/shared_dir.h"

namespace fq {
namespace {

class SlurmCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir(std::string("slurm_cli_") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    // Records each call's arguments and answers job ids 100, 101, ... as `sbatch --parsable` does.
    std::filesystem::create_directories(dir_ + "/bin");
    write_file_atomic(dir_ + "/bin/sbatch", "#!/bin/bash\necho \"$*\" >> " + dir_ + "/sbatch.calls\necho $((100 + $(wc -l < " +
                                                dir_ + "/sbatch.calls) - 1))\n");
    std::filesystem::permissions(dir_ + "/bin/sbatch", std::filesystem::perms::owner_all);
    std::filesystem::create_directories(dir_ + "/data/mmlu set/test");
    std::filesystem::create_directories(dir_ + "/data/ceval/val");
    write_file_atomic(dir_ + "/data/wiki.txt", "Some text.\n");
  }

  // `flatquant slurm <args>`: the exit code; stdout and stderr in out() and err().
  int slurm(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"bash", "-c", "exec \"$0\" slurm \"$@\" 2> " + dir_ + "/err", test::flatquant_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    const char* path = std::getenv("PATH");
    std::filesystem::remove(dir_ + "/out");  // run_child appends
    return test::run_child(argv, dir_ + "/out", 60, {{"PATH", dir_ + "/bin:" + (path ? path : "/usr/bin:/bin")}}).code;
  }
  std::string out() const { return test::file_or_empty(dir_ + "/out"); }
  std::string err() const { return test::file_or_empty(dir_ + "/err"); }
  std::string calls() const { return test::file_or_empty(dir_ + "/sbatch.calls"); }
  std::vector<std::string> calibration(const std::string& run) const {
    return {"--config", std::string(FLATQUANT_SOURCE_DIR) + "/configs/tiny-deepseek-v3.yaml", "--out", run,
            "--set", "slurm.gpus_per_node=0", "--set", "slurm.ntasks_per_node=2"};
  }

  std::string dir_;
};

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST_F(SlurmCli, SubmitQueuesTheEvaluationsAfterTheCalibration) {
  const std::string run = dir_ + "/run";
  std::vector<std::string> args = calibration(run);
  args.insert(args.end(), {"--eval", "mmlu=" + dir_ + "/data/mmlu set", "--eval", "ceval=" + dir_ + "/data/ceval",
                           "--submit", "--", "--shots", "5"});
  ASSERT_EQ(slurm(args), kExitOk) << err();
  EXPECT_EQ(out(), "100\n101\n102\n") << err();
  const std::string after = "--parsable --dependency=afterok:100 --kill-on-invalid-dep=yes ";
  EXPECT_EQ(calls(), "--parsable " + run + "/job.sbatch\n" + after + run + "/eval-mmlu.sbatch\n" + after + run +
                         "/eval-ceval.sbatch\n");
  const std::string mmlu = read_file(run + "/eval-mmlu.sbatch");
  EXPECT_TRUE(contains(mmlu, " eval --run " + run + " --task mmlu --data '" + dir_ + "/data/mmlu set' --report " + run +
                                 "/mmlu.json --shots 5 &"))
      << mmlu;
  EXPECT_TRUE(contains(mmlu, "#SBATCH --ntasks-per-node=2\n")) << mmlu;
  EXPECT_TRUE(contains(read_file(run + "/job.sbatch"), " calibrate --config ")) << read_file(run + "/job.sbatch");

  // Later, the finished run alone (its config.yaml sizes the job): no dependency.
  write_file_atomic(run + "/config.yaml", read_file(std::string(FLATQUANT_SOURCE_DIR) + "/configs/tiny-deepseek-v3.yaml"));
  std::filesystem::remove(dir_ + "/sbatch.calls");
  ASSERT_EQ(slurm({"--run", run, "--eval", "ppl=" + dir_ + "/data/wiki.txt", "--set", "slurm.gpus_per_node=0",
                   "--submit"}),
            kExitOk)
      << err();
  EXPECT_EQ(out(), "100\n") << err();
  EXPECT_EQ(calls(), "--parsable " + run + "/eval-ppl.sbatch\n");
  EXPECT_TRUE(contains(read_file(run + "/eval-ppl.sbatch"), " --task ppl --text " + dir_ + "/data/wiki.txt --report "))
      << read_file(run + "/eval-ppl.sbatch");

  // Without --submit: the scripts are written and their paths printed.
  ASSERT_EQ(slurm({"--run", run, "--eval", "ceval=" + dir_ + "/data/ceval", "--set", "slurm.gpus_per_node=0"}), kExitOk)
      << err();
  EXPECT_EQ(out(), run + "/eval-ceval.sbatch\n");
}

TEST_F(SlurmCli, BadEvaluationRequestsAreBadCommandLines) {
  const std::string run = dir_ + "/run";
  const auto refused = [&](std::vector<std::string> extra, const std::vector<std::string>& message) {
    std::vector<std::string> args = calibration(run);
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_EQ(slurm(args), kExitUsage) << err();
    for (const std::string& part : message) EXPECT_TRUE(contains(err(), part)) << "no '" << part << "' in: " << err();
  };
  refused({"--eval"}, {"--eval"});
  refused({"--eval", "mmlu"}, {"--eval 'mmlu'", "TASK=PATH"});
  refused({"--eval", "arc=" + dir_ + "/data/ceval"}, {"--eval", "'arc'", "ppl, mmlu, ceval"});
  refused({"--eval", "mmlu="}, {"--eval 'mmlu='", "no data path"});
  refused({"--eval", "ceval=" + dir_ + "/data/none"}, {"--eval", dir_ + "/data/none", "not a directory"});
  refused({"--eval", "ceval=" + dir_ + "/data/ceval", "--", "--report", "x.json"}, {"'--report'"});
  refused({"--", "--shots", "5"}, {"after --", "--eval"});
  refused({"--run", run, "--eval", "ceval=" + dir_ + "/data/ceval"}, {"--run", "--config"});
  EXPECT_EQ(slurm({"--run", run}), kExitUsage) << err();
  EXPECT_TRUE(contains(err(), "--run DIR needs at least one --eval")) << err();
  EXPECT_EQ(calls(), "") << "nothing may be submitted";
  EXPECT_FALSE(std::filesystem::exists(run)) << "nothing may be written";
}

}  // namespace
}  // namespace fq
