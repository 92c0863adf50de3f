// End to end on a real (single-host) Slurm: a job rendered by render_sbatch runs a two-rank MPI program
// (resumable_counter) through srun --mpi=pmix; the test signals the batch shell with USR1 mid-run, as
// Slurm does before a time limit; the script forwards it, the ranks save and exit 75, the script requeues
// the job, and the requeued job resumes and finishes with the same result as an uninterrupted run.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cluster/slurm/sbatch_render.h"
#include "cluster/slurm/sbatch_submit.h"
#include "lib/core/atomic_file.h"
#include "lib/core/json.h"
#include "tests/slurm/single_host_slurm.h"
#include "tests/support/child_process.h"
#include "tests/support/shared_dir.h"

namespace fq::cluster {
namespace {

constexpr int kSteps = 40;
constexpr int kStepMs = 150;
constexpr int kStopAfterStep = 8;
// Requeue: the job waits cred_expire (10 s in the test cluster) before it may start again.
constexpr double kJobSeconds = 90;

TEST(SlurmRequeue, PreemptedJobIsRequeuedAndResumesToTheUninterruptedResult) {
  test::SingleHostSlurm slurm;
  if (slurm.skipped()) GTEST_SKIP() << slurm.start_log();
  ASSERT_TRUE(slurm.up()) << "the single-host Slurm did not start:\n" << slurm.start_log();
  ::setenv("SLURM_CONF", slurm.conf().c_str(), 1);  // for sbatch and scancel, and inherited by the job

  const std::string work = test::scratch_dir("slurm_requeue");
  const std::string reference = work + "/reference", job_dir = work + "/job";
  std::filesystem::create_directories(reference);
  std::filesystem::create_directories(job_dir);

  // The uninterrupted run, outside Slurm.
  const test::ChildExit ref = test::run_child({FQ_MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", "2",
                                               FQ_RESUMABLE_COUNTER, reference, std::to_string(kSteps), "0"},
                                              work + "/reference.log", 120);
  ASSERT_EQ(ref.code, 0) << test::file_or_empty(work + "/reference.log");
  const std::string expected = read_file(reference + "/result");

  SlurmSpec spec;
  spec.job_name = "fq-requeue-test";
  spec.ntasks_per_node = 2;
  spec.time = "00:10:00";
  spec.signal = "B:USR1@60";  // the real trigger would come 9 minutes in; the test sends USR1 itself
  spec.output = work + "/job.out";
  spec.workdir = work;
  const std::string script = work + "/job.sbatch";
  write_file_atomic(script, render_sbatch(spec, {FQ_RESUMABLE_COUNTER, job_dir, std::to_string(kSteps),
                                                 std::to_string(kStepMs)}));
  const std::string job_id = submit_sbatch(script);
  const auto diagnostics = [&] {
    return "job.out:\n" + test::file_or_empty(work + "/job.out") + "\nhistory:\n" + test::file_or_empty(job_dir + "/history") +
           "\nslurm logs:\n" + slurm.logs();
  };

  // Mid-run, signal the batch shell only (-b), as --signal=B:USR1@t does before the time limit.
  const auto saved_step = [&] {
    const std::string text = test::file_or_empty(job_dir + "/progress.json");
    return text.empty() ? 0 : Json::parse(text)["step"].get<int>();
  };
  ASSERT_TRUE(test::wait_until(kJobSeconds, [&] { return saved_step() >= kStopAfterStep; })) << diagnostics();
  ASSERT_EQ(test::run_child({"scancel", "--batch", "--signal=USR1", job_id}, work + "/scancel.log", 30).code, 0)
      << test::file_or_empty(work + "/scancel.log");

  ASSERT_TRUE(test::wait_until(kJobSeconds, [&] { return std::filesystem::exists(job_dir + "/result"); }))
      << "the requeued job did not finish\n" << diagnostics();
  EXPECT_EQ(read_file(job_dir + "/result"), expected) << diagnostics();
  // The job ends COMPLETED after one restart (scontrol keeps the record for MinJobAge; no accounting needed).
  std::string job_info;
  const bool completed = test::wait_until(kJobSeconds, [&] {
    test::run_child({"scontrol", "show", "job", job_id}, work + "/scontrol.log", 30);
    job_info = read_file(work + "/scontrol.log");
    std::filesystem::remove(work + "/scontrol.log");
    return job_info.find("JobState=COMPLETED") != std::string::npos;
  });
  EXPECT_TRUE(completed) << job_info << diagnostics();
  EXPECT_NE(job_info.find("Restarts=1"), std::string::npos) << job_info;

  // Evidence of the cycle: stopped by USR1 (10) part-way, then restarted once from the saved step.
  std::istringstream history(read_file(job_dir + "/history"));
  std::string first, stop, second, done;
  std::getline(history, first);
  std::getline(history, stop);
  std::getline(history, second);
  std::getline(history, done);
  EXPECT_EQ(first, "start 0 restart 0") << diagnostics();
  int stopped_at = -1, signal = -1;
  ASSERT_EQ(std::sscanf(stop.c_str(), "stop %d signal %d", &stopped_at, &signal), 2) << diagnostics();
  EXPECT_EQ(signal, SIGUSR1);
  EXPECT_GT(stopped_at, 0);
  EXPECT_LT(stopped_at, kSteps);
  EXPECT_EQ(second, "start " + std::to_string(stopped_at) + " restart 1") << diagnostics();
  EXPECT_EQ(done, "done " + std::to_string(kSteps));
  const std::string out = read_file(work + "/job.out");
  EXPECT_NE(out.find("received SIGUSR1"), std::string::npos) << out;
  EXPECT_NE(out.find("requeueing job " + job_id), std::string::npos) << out;
  EXPECT_NE(out.find("job " + job_id + " restart 1"), std::string::npos) << out;
}

}  // namespace
}  // namespace fq::cluster
