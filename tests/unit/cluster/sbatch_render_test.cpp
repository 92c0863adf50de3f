#include "cluster/slurm/sbatch_render.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <thread>

#include "cluster/slurm/shell_quote.h"
#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "tests/support/child_process.h"
#include "tests/support/shared_dir.h"

namespace fq::cluster {
namespace {

SlurmSpec full_spec() {
  SlurmSpec s;
  s.job_name = "fq-llama70b";
  s.nodes = 2;
  s.ntasks_per_node = 8;
  s.gpus_per_node = 8;
  s.cpus_per_task = 16;
  s.memory = "0";
  s.time = "1-02:03:04";
  s.partition = "gpu";
  s.account = "proj42";
  s.exclusive = true;
  s.requeue = true;
  s.signal = "B:USR1@300";
  s.launcher_args = {"--cpu-bind=none"};
  s.output = "logs/%x-%j.out";
  s.workdir = "/scratch/run1";
  s.environment = {{"NCCL_NVLS_ENABLE", "0"}, {"HF_HOME", "/data/hf cache"}};
  s.extra_sbatch = {"--constraint=h100", "--mail-type=END"};
  s.setup = {"module load cuda/12.4"};
  return s;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string write_script(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  write_file_atomic(path, text);
  ::chmod(path.c_str(), 0755);
  return path;
}

TEST(SbatchRender, EveryOptionAppears) {
  const std::string script = render_sbatch(full_spec(), {"/opt/fq/flatquant", "calibrate", "--config", "my run.yaml"});
  for (const char* line : {"#SBATCH --job-name=fq-llama70b\n", "#SBATCH --nodes=2\n", "#SBATCH --ntasks-per-node=8\n",
                           "#SBATCH --gpus-per-node=8\n", "#SBATCH --cpus-per-task=16\n", "#SBATCH --mem=0\n",
                           "#SBATCH --time=1-02:03:04\n", "#SBATCH --partition=gpu\n", "#SBATCH --account=proj42\n",
                           "#SBATCH --exclusive\n", "#SBATCH --requeue\n", "#SBATCH --signal=B:USR1@300\n",
                           "#SBATCH --open-mode=append\n", "#SBATCH --output=logs/%x-%j.out\n",
                           "#SBATCH --chdir=/scratch/run1\n", "#SBATCH --constraint=h100\n",
                           "#SBATCH --mail-type=END\n", "export NCCL_NVLS_ENABLE=0\n",
                           "export HF_HOME='/data/hf cache'\n", "module load cuda/12.4\n",
                           "readonly requeue_on_resume=1\n", "scontrol requeue",
                           "srun --mpi=pmix --kill-on-bad-exit=1 --cpu-bind=none /opt/fq/flatquant calibrate --config "
                           "'my run.yaml' &\n"}) {
    EXPECT_TRUE(contains(script, line)) << "missing: " << line << "\n--- script ---\n" << script;
  }
  EXPECT_FALSE(contains(script, "{{")) << script;
  // #SBATCH lines must precede the first command, or sbatch ignores them.
  EXPECT_LT(script.find("#SBATCH --mail-type=END"), script.find("\nset -u"));
}

TEST(SbatchRender, OptionalOptionsAreLeftOutAndMpirunGetsTheExports) {
  SlurmSpec s;
  s.requeue = false;
  s.launcher = SlurmLauncher::kMpirun;
  const std::string script = render_sbatch(s, {"prog"});
  for (const char* absent : {"--gpus-per-node", "--mem", "--partition", "--account", "--exclusive", "--chdir"}) {
    EXPECT_FALSE(contains(script, absent)) << absent;
  }
  EXPECT_TRUE(contains(script, "#SBATCH --no-requeue\n"));
  EXPECT_TRUE(contains(script, "readonly requeue_on_resume=0\n"));
  EXPECT_TRUE(contains(script, "mpirun --bind-to none -x NCCL_NVLS_ENABLE prog &\n")) << script;
}

TEST(SbatchRender, ScriptIsValidBash) {
  const std::string dir = test::scratch_dir("sbatch_render_syntax");
  for (SlurmLauncher launcher : {SlurmLauncher::kSrun, SlurmLauncher::kMpirun}) {
    SlurmSpec s = full_spec();
    s.launcher = launcher;
    const std::string path = write_script(dir, launcher_name(launcher) + ".sbatch",
                                          render_sbatch(s, {"prog", "it's", "a \"quoted\" $arg"}));
    const test::ChildExit result = test::run_child({"bash", "-n", path}, dir + "/bash-n.log", 30);
    EXPECT_EQ(result.code, 0) << path << ": " << read_file(dir + "/bash-n.log");
  }
}

TEST(SbatchRender, ShellQuotingRoundTripsThroughBash) {
  const std::string dir = test::scratch_dir("sbatch_quote");
  const std::vector<std::string> words = {"plain", "with space", "it's", "$HOME", "a\"b", "*", ""};
  write_file_atomic(dir + "/echo.sh", "printf '%s\\n' " + shell_join(words) + " > " + dir + "/out.txt\n");
  ASSERT_EQ(test::run_child({"bash", dir + "/echo.sh"}, dir + "/log", 30).code, 0);
  std::string expected;
  for (const std::string& w : words) expected += w + "\n";
  EXPECT_EQ(read_file(dir + "/out.txt"), expected);
  EXPECT_EQ(shell_quote("/opt/fq/flatquant"), "/opt/fq/flatquant");
}

TEST(SbatchRender, BadSpecsAndTemplatesAreRefusedNamingTheField) {
  auto expect_error = [](SlurmSpec s, const std::string& field) {
    try {
      render_sbatch(s, {"prog"});
      FAIL() << "expected an error naming " << field;
    } catch (const Error& e) {
      EXPECT_TRUE(contains(e.what(), field)) << e.what();
    }
  };
  SlurmSpec s;
  s.nodes = 0;
  expect_error(s, "nodes");
  s = SlurmSpec();
  s.time = "four hours";
  expect_error(s, "time");
  s = SlurmSpec();
  s.signal = "USR1 now";
  expect_error(s, "signal");
  s = SlurmSpec();
  s.job_name = "two words";
  expect_error(s, "job_name");
  s = SlurmSpec();
  s.environment = {{"BAD-NAME", "1"}};
  expect_error(s, "BAD-NAME");
  s = SlurmSpec();
  s.extra_sbatch = {"constraint=h100"};
  expect_error(s, "constraint=h100");
  EXPECT_THROW(render_sbatch(SlurmSpec(), {}), Error);
  EXPECT_THROW(render_sbatch(SlurmSpec(), {"prog"}, "#!/bin/bash\n{{SBATCH_OPTIONS}}\n"), Error);  // no {{LAUNCH}}
  try {
    render_sbatch(SlurmSpec(), {"prog"}, "{{SBATCH_OPTIONS}}\n{{LAUNCH}}\n{{NODES}}\n");
    FAIL() << "an unknown placeholder must be refused";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "{{NODES}}")) << e.what();
  }
  EXPECT_EQ(parse_launcher("mpirun", "cfg"), SlurmLauncher::kMpirun);
  EXPECT_THROW(parse_launcher("aprun", "cfg slurm.launcher"), Error);
}

// The job script's stop/requeue logic, run by bash with fake `srun` and `scontrol` on PATH: the fake srun
// runs the step directly, the fake scontrol records its arguments. (The real thing: tests/slurm.)
class SbatchScriptBehaviour : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir(std::string("sbatch_behaviour_") +
                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_ + "/bin");
    write_script(dir_ + "/bin", "srun", "#!/bin/bash\nwhile [[ $1 == -* ]]; do shift; done\nexec \"$@\"\n");
    write_script(dir_ + "/bin", "scontrol", "#!/bin/bash\necho \"$*\" >> " + dir_ + "/scontrol.calls\n");
    // The step: says it runs, then exits 75 on USR1 (saving work), or with $2 after $1 tenths of a second.
    write_script(dir_, "step.sh",
                 "#!/bin/bash\ntrap 'echo step got USR1; exit 75' USR1\ntouch " + dir_ +
                     "/step.started\nfor ((i = 0; i < $1; i++)); do sleep 0.1; done\nexit $2\n");
  }

  // Runs the rendered script; when `signal` is set, sends it to the script once the step runs.
  test::ChildExit run(const SlurmSpec& spec, const std::string& tenths, const std::string& code, int signal) {
    const std::string script = write_script(dir_, "job.sbatch", render_sbatch(spec, {dir_ + "/step.sh", tenths, code}));
    const char* path = std::getenv("PATH");
    test::ChildProcess job({"bash", script}, dir_ + "/job.log",
                           {{"PATH", dir_ + "/bin:" + (path ? path : "/usr/bin:/bin")}, {"SLURM_JOB_ID", "4711"}});
    if (signal != 0) {  // the traps are set before the step starts
      for (int i = 0; i < 300 && !std::filesystem::exists(dir_ + "/step.started"); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      job.signal(signal);
    }
    return job.wait(30);
  }
  std::string log() const { return read_file(dir_ + "/job.log"); }
  std::string scontrol_calls() const {
    return std::filesystem::exists(dir_ + "/scontrol.calls") ? read_file(dir_ + "/scontrol.calls") : "";
  }

  std::string dir_;
};

TEST_F(SbatchScriptBehaviour, Usr1IsForwardedAndTheJobRequeued) {
  const test::ChildExit result = run(SlurmSpec(), "200", "0", SIGUSR1);
  EXPECT_EQ(result.code, 0) << log();
  EXPECT_TRUE(contains(log(), "received SIGUSR1")) << log();
  EXPECT_TRUE(contains(log(), "step got USR1")) << log();
  EXPECT_TRUE(contains(log(), "step exited with 75")) << log();
  EXPECT_EQ(scontrol_calls(), "requeue 4711\n");
  EXPECT_LT(result.seconds, 10.0) << "the step must stop on the signal, not run to its end";
}

TEST_F(SbatchScriptBehaviour, TermIsForwardedAsUsr1) {
  const test::ChildExit result = run(SlurmSpec(), "200", "0", SIGTERM);
  EXPECT_EQ(result.code, 0) << log();
  EXPECT_TRUE(contains(log(), "received SIGTERM")) << log();
  EXPECT_TRUE(contains(log(), "step got USR1")) << log();
  EXPECT_EQ(scontrol_calls(), "requeue 4711\n");
}

TEST_F(SbatchScriptBehaviour, WithoutRequeueTheScriptExits75) {
  SlurmSpec spec;
  spec.requeue = false;
  const test::ChildExit result = run(spec, "200", "0", SIGUSR1);
  EXPECT_EQ(result.code, 75) << log();
  EXPECT_EQ(scontrol_calls(), "");
  EXPECT_TRUE(contains(log(), "submit this script again")) << log();
}

TEST_F(SbatchScriptBehaviour, CompletionAndFailurePassThrough) {
  EXPECT_EQ(run(SlurmSpec(), "1", "0", 0).code, 0) << log();
  EXPECT_EQ(run(SlurmSpec(), "1", "3", 0).code, 3) << log();
  EXPECT_EQ(scontrol_calls(), "") << "only exit 75 requeues";
}

}  // namespace
}  // namespace fq::cluster
