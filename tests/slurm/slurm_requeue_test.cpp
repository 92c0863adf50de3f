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
#include "flatquant_build_info.h"
#include "lib/core/json.h"
#include "tests/support/archive_compare.h"
#include "tests/support/child_process.h"
#include "tests/support/shared_dir.h"

namespace fq::cluster {
namespace {

constexpr int kSteps = 40;
constexpr int kStepMs = 150;
constexpr int kStopAfterStep = 8;
constexpr double kClusterStartSeconds = 60;
// Requeue: the job waits cred_expire (10 s in the test cluster) before it may start again.
constexpr double kJobSeconds = 90;
constexpr int kSkipExitCode = 77;  // single_host_slurm.sh: Slurm cannot run here

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

template <typename Predicate>
bool wait_until(double seconds, Predicate done) {
  for (const double deadline = now() + seconds; now() < deadline;) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

std::string file_or_empty(const std::string& path) { return std::filesystem::exists(path) ? read_file(path) : ""; }

// Starts the daemons in a fresh temporary directory and stops exactly them when the test ends, whatever
// happens in between.
class SingleHostSlurm {
 public:
  SingleHostSlurm() {
    char tmpl[] = "/tmp/fq-slurm-XXXXXX";  // short: unix socket paths are limited to 108 bytes
    const char* made = ::mkdtemp(tmpl);
    if (made == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = made;
    start_ = test::run_child({"bash", FQ_SINGLE_HOST_SLURM, "start", dir_}, dir_ + "/start.log", kClusterStartSeconds);
    start_log_ = file_or_empty(dir_ + "/start.log");
  }
  ~SingleHostSlurm() {
    test::run_child({"bash", FQ_SINGLE_HOST_SLURM, "stop", dir_}, dir_ + "/stop.log", 60);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  bool skipped() const { return start_.code == kSkipExitCode; }
  bool up() const { return start_.code == 0 && !start_.timed_out; }
  const std::string& start_log() const { return start_log_; }
  std::string conf() const { return dir_ + "/slurm.conf"; }
  std::string logs() const {
    return file_or_empty(dir_ + "/log/slurmctld.log").substr(0, 4000) + file_or_empty(dir_ + "/log/slurmd.log");
  }

 private:
  std::string dir_;
  test::ChildExit start_;
  std::string start_log_;
};

TEST(SlurmRequeue, PreemptedJobIsRequeuedAndResumesToTheUninterruptedResult) {
  SingleHostSlurm slurm;
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
  ASSERT_EQ(ref.code, 0) << file_or_empty(work + "/reference.log");
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
    return "job.out:\n" + file_or_empty(work + "/job.out") + "\nhistory:\n" + file_or_empty(job_dir + "/history") +
           "\nslurm logs:\n" + slurm.logs();
  };

  // Mid-run, signal the batch shell only (-b), as --signal=B:USR1@t does before the time limit.
  const auto saved_step = [&] {
    const std::string text = file_or_empty(job_dir + "/progress.json");
    return text.empty() ? 0 : Json::parse(text)["step"].get<int>();
  };
  ASSERT_TRUE(wait_until(kJobSeconds, [&] { return saved_step() >= kStopAfterStep; })) << diagnostics();
  ASSERT_EQ(test::run_child({"scancel", "--batch", "--signal=USR1", job_id}, work + "/scancel.log", 30).code, 0)
      << file_or_empty(work + "/scancel.log");

  ASSERT_TRUE(wait_until(kJobSeconds, [&] { return std::filesystem::exists(job_dir + "/result"); }))
      << "the requeued job did not finish\n" << diagnostics();
  EXPECT_EQ(read_file(job_dir + "/result"), expected) << diagnostics();
  // The job ends COMPLETED after one restart (scontrol keeps the record for MinJobAge; no accounting needed).
  std::string job_info;
  const bool completed = wait_until(kJobSeconds, [&] {
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

// The product under Slurm: `flatquant slurm --submit` runs a two-rank calibration of tiny-deepseek-v3;
// USR1 to the batch shell mid-calibration (as before a time limit) makes the ranks save and exit 75, the
// job requeues itself, resumes, and ends with the transforms.h5 of an uninterrupted single-process run.
TEST(SlurmRequeue, FlatquantCalibrationIsPreemptedRequeuedAndResumed) {
  FQ_REQUIRE_SHARED();
  SingleHostSlurm slurm;
  if (slurm.skipped()) GTEST_SKIP() << slurm.start_log();
  ASSERT_TRUE(slurm.up()) << "the single-host Slurm did not start:\n" << slurm.start_log();
  ::setenv("SLURM_CONF", slurm.conf().c_str(), 1);

  const std::string work = test::scratch_dir("slurm_flatquant");
  const std::vector<std::string> calibration{
      "--config", std::string(FLATQUANT_SOURCE_DIR) + "/configs/tiny-deepseek-v3.yaml", "--set", "data.nsamples=8",
      "--set",    "data.seqlen=128", "--set", "flatquant.epochs=4"};
  std::vector<std::string> reference{test::flatquant_binary(), "calibrate"};
  reference.insert(reference.end(), calibration.begin(), calibration.end());
  reference.insert(reference.end(), {"--out", work + "/reference"});
  const test::ChildExit ref = test::run_child(reference, work + "/reference.log", 600, {{"OMP_NUM_THREADS", "1"}});
  ASSERT_EQ(ref.code, 0) << file_or_empty(work + "/reference.log");

  const std::string run = work + "/job";
  std::vector<std::string> submit{test::flatquant_binary(), "slurm"};
  submit.insert(submit.end(), calibration.begin(), calibration.end());
  for (const char* s : {"slurm.ntasks_per_node=2", "slurm.gpus_per_node=0", "slurm.cpus_per_task=1",
                        "slurm.time=00:10:00", "slurm.signal=B:USR1@60", "slurm.output=job.out"}) {
    submit.insert(submit.end(), {"--set", s});
  }
  submit.insert(submit.end(), {"--out", run, "--submit"});
  ASSERT_EQ(test::run_child(submit, work + "/submit.log", 60).code, 0) << file_or_empty(work + "/submit.log");
  const std::string submitted = read_file(work + "/submit.log");
  const size_t at = submitted.find("submitted job ");
  ASSERT_NE(at, std::string::npos) << submitted;
  const std::string job_id = submitted.substr(at + 14, submitted.find(' ', at + 14) - at - 14);
  const auto diagnostics = [&] { return "job.out:\n" + file_or_empty(run + "/job.out") + "\nslurm logs:\n" + slurm.logs(); };

  // Once the first layer is saved, the others are still calibrating: signal the batch shell.
  ASSERT_TRUE(wait_until(240, [&] { return std::filesystem::exists(run + "/layers/layer_000.h5"); })) << diagnostics();
  ASSERT_EQ(test::run_child({"scancel", "--batch", "--signal=USR1", job_id}, work + "/scancel.log", 30).code, 0)
      << file_or_empty(work + "/scancel.log");
  ASSERT_TRUE(wait_until(300, [&] { return std::filesystem::exists(run + "/transforms.h5"); }))
      << "the requeued job did not finish\n" << diagnostics();
  const std::string out = read_file(run + "/job.out");
  EXPECT_NE(out.find("received SIGUSR1"), std::string::npos) << out;
  EXPECT_NE(out.find("requeueing job " + job_id), std::string::npos) << out;
  EXPECT_NE(out.find("layer already calibrated"), std::string::npos) << "finished layers must not be redone\n" << out;
  EXPECT_EQ(test::archive_difference(work + "/reference/transforms.h5", run + "/transforms.h5"), "");
}

}  // namespace
}  // namespace fq::cluster
