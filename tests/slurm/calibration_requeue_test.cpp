// The calibration job end to end on a real (single-host) Slurm: `flatquant slurm --submit` renders and
// submits a two-task job of tiny-deepseek-v3 (srun --mpi=pmix); mid-calibration the test signals the batch
// shell with USR1 as Slurm does before the time limit (scancel --batch --signal=USR1); the ranks save and
// exit 75, the job script requeues the job, and the requeued job resumes to the transforms.h5 of an
// uninterrupted single-process run.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>

#include "flatquant_build_info.h"
#include "lib/core/atomic_file.h"
#include "lib/core/exit_codes.h"
#include "tests/slurm/single_host_slurm.h"
#include "tests/support/archive_compare.h"
#include "tests/support/child_process.h"
#include "tests/support/shared_dir.h"

namespace fq {
namespace {

// One shortened calibration takes about a minute on two loaded cores; the requeued job waits cred_expire
// (10 s in the test cluster) before it starts again.
constexpr double kRunSeconds = 900;

const std::vector<std::pair<std::string, std::string>> kOneThread{{"OMP_NUM_THREADS", "1"}};

// tiny-deepseek-v3, 8 windows of 64 tokens, 6 epochs: the same calibration as tests/mpi/calibration.
std::vector<std::string> calibration_settings() {
  return {"--config", std::string(FLATQUANT_SOURCE_DIR) + "/configs/tiny-deepseek-v3.yaml",
          "--set",    "data.nsamples=8",
          "--set",    "data.seqlen=64",
          "--set",    "flatquant.epochs=6"};
}

int layer_files(const std::string& run) {
  int n = 0;
  for (int layer = 0; layer < 4; ++layer) n += std::filesystem::exists(run + "/layers/layer_00" + std::to_string(layer) + ".h5");
  return n;
}

TEST(SlurmCalibration, SignalledJobIsRequeuedAndResumesToTheSingleProcessResult) {
  FQ_REQUIRE_SHARED();
  test::SingleHostSlurm slurm;
  if (slurm.skipped()) GTEST_SKIP() << slurm.start_log();
  ASSERT_TRUE(slurm.up()) << "the single-host Slurm did not start:\n" << slurm.start_log();
  ::setenv("SLURM_CONF", slurm.conf().c_str(), 1);  // for sbatch and scancel, and inherited by the job

  const std::string work = test::scratch_dir("slurm_calibration");
  std::vector<std::string> reference = {test::flatquant_binary(), "calibrate"};
  for (const std::string& word : calibration_settings()) reference.push_back(word);
  reference.insert(reference.end(), {"--out", work + "/reference"});
  const test::ChildExit ref = test::run_child(reference, work + "/reference.log", kRunSeconds, kOneThread);
  ASSERT_EQ(ref.code, kExitOk) << test::file_or_empty(work + "/reference.log");

  const std::string run = work + "/job";
  std::vector<std::string> submit = {test::flatquant_binary(), "slurm"};
  for (const std::string& word : calibration_settings()) submit.push_back(word);
  for (const std::string& setting : {"slurm.job_name=fq-calibration-test", "slurm.ntasks_per_node=2",
                                     "slurm.gpus_per_node=0", "slurm.cpus_per_task=1", "slurm.time=00:30:00",
                                     "slurm.signal=B:USR1@120", "slurm.output=job.out"}) {
    submit.insert(submit.end(), {"--set", setting});
  }
  submit.insert(submit.end(), {"--out", run, "--submit"});
  const test::ChildExit submitted = test::run_child(submit, work + "/submit.log", 60, kOneThread);
  const std::string submit_log = test::file_or_empty(work + "/submit.log");
  ASSERT_EQ(submitted.code, kExitOk) << submit_log;
  // The job id is the last line of the output (stdout; the notes before it go to stderr).
  std::string job_id = submit_log.substr(0, submit_log.find_last_not_of('\n') + 1);
  job_id = job_id.substr(job_id.find_last_of('\n') + 1);
  ASSERT_FALSE(job_id.empty()) << submit_log;
  ASSERT_TRUE(std::filesystem::exists(run + "/job.sbatch")) << submit_log;
  const auto diagnostics = [&] {
    return "job.out:\n" + test::file_or_empty(run + "/job.out") + "\nslurm logs:\n" + slurm.logs();
  };

  // Mid-calibration (a layer saved, others not yet), signal the batch shell only, as --signal=B:USR1@t does.
  ASSERT_TRUE(test::wait_until(kRunSeconds, [&] { return layer_files(run) > 0; })) << diagnostics();
  ASSERT_EQ(test::run_child({"scancel", "--batch", "--signal=USR1", job_id}, work + "/scancel.log", 30).code, 0)
      << test::file_or_empty(work + "/scancel.log");
  const int saved_before_stop = layer_files(run);
  const double signalled = test::seconds_now();

  ASSERT_TRUE(test::wait_until(kRunSeconds, [&] { return std::filesystem::exists(run + "/transforms.h5"); }))
      << "the requeued job did not finish\n" << diagnostics();
  std::printf("[ measure  ] USR1 to the batch shell -> stop, requeue, resume, transforms.h5 after %.1f s\n",
              test::seconds_now() - signalled);
  EXPECT_EQ(test::archive_difference(work + "/reference/transforms.h5", run + "/transforms.h5"), "") << diagnostics();

  std::string job_info;
  const bool completed = test::wait_until(120, [&] {
    test::run_child({"scontrol", "show", "job", job_id}, work + "/scontrol.log", 30);
    job_info = read_file(work + "/scontrol.log");
    return job_info.find("JobState=COMPLETED") != std::string::npos;
  });
  EXPECT_TRUE(completed) << job_info << diagnostics();
  EXPECT_NE(job_info.find("Restarts=1"), std::string::npos) << job_info;
  // The cycle: USR1 reached the step, every rank saved and exited 75, the script requeued, the run resumed.
  const std::string out = read_file(run + "/job.out");
  EXPECT_NE(out.find("received SIGUSR1"), std::string::npos) << out;
  EXPECT_NE(out.find("step exited with 75"), std::string::npos) << out;
  EXPECT_NE(out.find("requeueing job " + job_id), std::string::npos) << out;
  EXPECT_NE(out.find("job " + job_id + " restart 1"), std::string::npos) << out;
  EXPECT_LT(saved_before_stop, 4) << "the signal came after the last layer: lengthen the calibration";
  if (saved_before_stop > 0) EXPECT_NE(out.find("layer already calibrated"), std::string::npos) << out;
}

}  // namespace
}  // namespace fq
