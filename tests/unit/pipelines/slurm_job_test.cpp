// `flatquant slurm`: the config's slurm: section becomes the #SBATCH options, the launcher line runs the
// same calibrate command on every rank, and bad settings are refused naming the config key.
#include "pipelines/slurm_job.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lib/core/atomic_file.h"
#include "tests/support/child_process.h"
#include "tests/support/expect_error.h"
#include "tests/support/shared_dir.h"

namespace fq::pipelines {
namespace {

constexpr const char* kClusterYaml = R"(model: models/llama
output_dir: runs/llama
flatquant:
  epochs: 3
slurm:
  job_name: fq-70b
  nodes: 2
  ntasks_per_node: 8
  gpus_per_node: 8
  cpus_per_task: 12
  memory: 500G
  time: 1-00:00:00
  partition: gpu
  account: proj42
  exclusive: true
  signal: B:USR1@600
  setup: module load cuda/12.4
)";

struct Fixture {
  std::string dir, config;
};

Fixture write_config(const std::string& name, const std::string& yaml) {
  Fixture f{test::scratch_dir("slurm_job_" + name), ""};
  f.config = f.dir + "/cluster.yaml";
  std::ofstream(f.config) << yaml;
  return f;
}

SlurmJob render(const Fixture& f, std::vector<std::string> overrides = {}, const std::string& out = "") {
  return render_calibration_job({f.config, std::move(overrides), out, "/opt/fq/bin/flatquant"});
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(SlurmJob, ConfigSectionBecomesTheSbatchOptions) {
  const Fixture f = write_config("options", kClusterYaml);
  const SlurmJob job = render(f);
  EXPECT_EQ(job.run_dir, f.dir + "/runs/llama");
  for (const std::string& line :
       {"#SBATCH --job-name=fq-70b\n", "#SBATCH --nodes=2\n", "#SBATCH --ntasks-per-node=8\n",
        "#SBATCH --gpus-per-node=8\n", "#SBATCH --cpus-per-task=12\n", "#SBATCH --mem=500G\n",
        "#SBATCH --time=1-00:00:00\n", "#SBATCH --partition=gpu\n", "#SBATCH --account=proj42\n",
        "#SBATCH --exclusive\n", "#SBATCH --requeue\n", "#SBATCH --signal=B:USR1@600\n",
        "#SBATCH --open-mode=append\n"}) {
    EXPECT_TRUE(contains(job.script, line)) << "missing " << line << job.script;
  }
  // A relative log pattern lands in the run directory, which exists for sbatch.
  EXPECT_TRUE(contains(job.script, "#SBATCH --output=" + job.run_dir + "/%x-%j.out\n")) << job.script;
  EXPECT_TRUE(std::filesystem::is_directory(job.run_dir));
  EXPECT_TRUE(contains(job.script, "\nmodule load cuda/12.4\n")) << job.script;
  // Every rank runs the same calibrate command, by absolute paths, under srun with PMIx.
  const std::string launch = "srun --mpi=pmix --kill-on-bad-exit=1 /opt/fq/bin/flatquant calibrate --config " +
                             f.config + " --out " + job.run_dir + " &";
  EXPECT_TRUE(contains(job.script, launch)) << job.script;
  // The pre-timeout signal reaches the step: the shell traps it and forwards USR1; exit 75 requeues.
  EXPECT_TRUE(contains(job.script, "trap 'stop_step USR1' USR1")) << job.script;
  EXPECT_TRUE(contains(job.script, "readonly requeue_on_resume=1")) << job.script;
  EXPECT_TRUE(contains(job.script, "scontrol requeue")) << job.script;
  // And bash accepts it.
  write_file_atomic(f.dir + "/job.sbatch", job.script);
  EXPECT_EQ(test::run_child({"bash", "-n", f.dir + "/job.sbatch"}, f.dir + "/bash-n.log", 30).code, 0)
      << read_file(f.dir + "/bash-n.log");
}

TEST(SlurmJob, OverridesAndOutReachTheJobCommand) {
  const Fixture f = write_config("overrides", kClusterYaml);
  const SlurmJob job = render(f, {"slurm.launcher=mpirun", "slurm.requeue=false", "flatquant.epochs=1"},
                             f.dir + "/elsewhere");
  EXPECT_EQ(job.run_dir, f.dir + "/elsewhere");
  EXPECT_EQ(job.command, (std::vector<std::string>{"/opt/fq/bin/flatquant", "calibrate", "--config", f.config, "--out",
                                                   f.dir + "/elsewhere", "--set", "slurm.launcher=mpirun", "--set",
                                                   "slurm.requeue=false", "--set", "flatquant.epochs=1"}));
  EXPECT_TRUE(contains(job.script, "\nmpirun --bind-to none -x NCCL_NVLS_ENABLE /opt/fq/bin/flatquant calibrate"))
      << job.script;
  EXPECT_TRUE(contains(job.script, "#SBATCH --no-requeue\n")) << job.script;
  EXPECT_TRUE(contains(job.script, "readonly requeue_on_resume=0")) << job.script;
  EXPECT_TRUE(contains(job.script, "#SBATCH --output=" + f.dir + "/elsewhere/%x-%j.out\n")) << job.script;
}

TEST(SlurmJob, BadSettingsNameTheConfigKey) {
  const Fixture f = write_config("bad", kClusterYaml);
  test::expect_error([&] { render(f, {"slurm.time=tomorrow"}); }, {"config section 'slurm'", "'time'", "tomorrow"});
  test::expect_error([&] { render(f, {"slurm.signal=USR1 @300"}); }, {"'signal'", "USR1 @300"});
  test::expect_error([&] { render(f, {"slurm.memory=lots"}); }, {"'memory'", "lots"});
  test::expect_error([&] { render(f, {"slurm.partition=a b"}); }, {"'partition'", "whitespace"});
  test::expect_error([&] { render(f, {"slurm.launcher=torchrun"}); }, {"slurm.launcher", "torchrun"});
  test::expect_error([&] { render(f, {"slurm.nodes=0"}); }, {"slurm.nodes"});
  test::expect_error([&] { render(f, {"slurm.ntasks_per_node=16"}); },
                     {"slurm.ntasks_per_node", "slurm.gpus_per_node", "one rank per GPU"});
  test::expect_error([&] { render(f, {"distributed.expert_parallel=3"}); },
                     {"distributed.expert_parallel", "must divide", "slurm.ntasks_per_node"});
  test::expect_error([&] { render(f, {"slurm.bogus=1"}); }, {"slurm.bogus"});
  const Fixture no_out = write_config("no_out", "model: m\n");
  test::expect_error([&] { render(no_out); }, {"no output directory", "--out"});
  const Fixture no_model = write_config("no_model", "output_dir: r\n");
  test::expect_error([&] { render(no_model); }, {"'model'"});
  test::expect_error([&] { render({f.dir, f.dir + "/missing.yaml"}); }, {f.dir + "/missing.yaml"});
}

}  // namespace
}  // namespace fq::pipelines
