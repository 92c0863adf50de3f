// The calibration job end to end on a real (single-host) Slurm: `flatquant slurm --eval ppl=... --submit`
// renders and submits a two-task job of tiny-deepseek-v3 (srun --mpi=pmix) and its perplexity job after it
// (afterok); mid-calibration the test signals the batch shell with USR1 as Slurm does before the time limit
// (scancel --batch --signal=USR1); the ranks save and exit 75, the job script requeues the job, the
// requeued job resumes to the transforms.h5 of an uninterrupted single-process run, and only then does
// the evaluation job run (before, it would fail: no transforms.h5) and write its report.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "flatquant_build_info.h"
#include "lib/core/atomic_file.h"
#include "lib/core/exit_codes.h"
#include "lib/core/json.h"
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
                                     "slurm.signal=B:USR1@120", "slurm.output=%x.out"}) {
    submit.insert(submit.end(), {"--set", setting});
  }
  // The evaluation: perplexity of the first 6 KB of the test text (a few seconds), in windows of 128 tokens
  // (an argument passed through to `flatquant eval`).
  const std::string text = read_file(test::shared_path("data/kjv/kjv.test.txt"));
  write_file_atomic(work + "/eval text.txt", text.substr(0, text.find('\n', 6000) + 1));
  submit.insert(submit.end(), {"--out", run, "--eval", "ppl=" + work + "/eval text.txt", "--submit", "--", "--seqlen", "128"});
  const test::ChildExit submitted = test::run_child(submit, work + "/submit.log", 60, kOneThread);
  const std::string submit_log = test::file_or_empty(work + "/submit.log");
  ASSERT_EQ(submitted.code, kExitOk) << submit_log;
  // The job ids are the output's lines of digits (stdout), the calibration's first; notes go to stderr.
  std::vector<std::string> job_ids;
  for (std::size_t pos = 0, end; pos < submit_log.size(); pos = end + 1) {
    end = std::min(submit_log.find('\n', pos), submit_log.size());
    const std::string line = submit_log.substr(pos, end - pos);
    if (!line.empty() && line.find_first_not_of("0123456789") == std::string::npos) job_ids.push_back(line);
  }
  ASSERT_EQ(job_ids.size(), 2u) << submit_log;
  const std::string job_id = job_ids[0], eval_job_id = job_ids[1];
  ASSERT_TRUE(std::filesystem::exists(run + "/job.sbatch")) << submit_log;
  ASSERT_TRUE(std::filesystem::exists(run + "/eval-ppl.sbatch")) << submit_log;
  const std::string job_out = run + "/fq-calibration-test.out", eval_out = run + "/fq-calibration-test-ppl.out";
  const auto diagnostics = [&] {
    return "calibration log:\n" + test::file_or_empty(job_out) + "\nevaluation log:\n" + test::file_or_empty(eval_out) +
           "\nslurm logs:\n" + slurm.logs();
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
  const auto completed = [&](const std::string& id) {
    return test::wait_until(kRunSeconds, [&] {
      std::filesystem::remove(work + "/scontrol.log");  // run_child appends
      test::run_child({"scontrol", "show", "job", id}, work + "/scontrol.log", 30);
      job_info = read_file(work + "/scontrol.log");
      return job_info.find("JobState=COMPLETED") != std::string::npos ||
             job_info.find("JobState=FAILED") != std::string::npos;
    }) && job_info.find("JobState=COMPLETED") != std::string::npos;
  };
  EXPECT_TRUE(completed(job_id)) << job_info << diagnostics();
  EXPECT_NE(job_info.find("Restarts=1"), std::string::npos) << job_info;
  // The evaluation waited through the requeue for the resumed calibration: it ran once, on transforms.h5.
  EXPECT_TRUE(completed(eval_job_id)) << job_info << diagnostics();
  EXPECT_NE(job_info.find("Restarts=0"), std::string::npos) << job_info;
  ASSERT_TRUE(std::filesystem::exists(run + "/ppl.json")) << diagnostics();
  const Json report = read_json_file(run + "/ppl.json");
  EXPECT_EQ(report.value("transforms", ""), run + "/transforms.h5") << report.dump();
  EXPECT_GT(report.value("perplexity", 0.0), 1.0) << report.dump();
  EXPECT_NE(test::file_or_empty(eval_out).find("windows of 128 tokens"), std::string::npos) << diagnostics();
  // The cycle: USR1 reached the step, every rank saved and exited 75, the script requeued, the run resumed.
  const std::string out = read_file(job_out);
  EXPECT_NE(out.find("received SIGUSR1"), std::string::npos) << out;
  EXPECT_NE(out.find("step exited with 75"), std::string::npos) << out;
  EXPECT_NE(out.find("requeueing job " + job_id), std::string::npos) << out;
  EXPECT_NE(out.find("job " + job_id + " restart 1"), std::string::npos) << out;
  EXPECT_LT(saved_before_stop, 4) << "the signal came after the last layer: lengthen the calibration";
  if (saved_before_stop > 0) EXPECT_NE(out.find("layer already calibrated"), std::string::npos) << out;
}

}  // namespace
}  // namespace fq
