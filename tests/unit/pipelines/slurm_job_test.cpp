// `flatquant slurm`: the config's slurm: section becomes the #SBATCH options, the launcher line runs the
// same calibrate command on every rank, evaluation jobs get the same sizing and run `flatquant eval` on the
// run directory, and bad settings are refused naming the config key or the flag.
#include "pipelines/slurm_job.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cluster/slurm/shell_quote.h"
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

SlurmJobRequest request_for(const Fixture& f, std::vector<std::string> overrides = {}, const std::string& out = "") {
  SlurmJobRequest request;
  request.config_path = f.config;
  request.overrides = std::move(overrides);
  request.out_dir = out;
  request.flatquant_binary = "/opt/fq/bin/flatquant";
  return request;
}

SlurmJob render(const Fixture& f, std::vector<std::string> overrides = {}, const std::string& out = "") {
  const std::vector<SlurmJob> jobs = render_slurm_jobs(request_for(f, std::move(overrides), out));
  EXPECT_EQ(jobs.size(), 1u);
  return jobs.at(0);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(SlurmJob, ConfigSectionBecomesTheSbatchOptions) {
  const Fixture f = write_config("options", kClusterYaml);
  const SlurmJob job = render(f);
  EXPECT_EQ(job.run_dir, f.dir + "/runs/llama");
  for (const char* line :
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

// The #SBATCH lines of a script but its job name.
std::string sizing_of(const std::string& script) {
  std::string out;
  std::size_t pos = 0;
  while ((pos = script.find("\n#SBATCH ", pos)) != std::string::npos) {
    const std::size_t end = script.find('\n', pos + 1);
    const std::string line = script.substr(pos + 1, end - pos - 1);
    if (line.rfind("#SBATCH --job-name=", 0) != 0) out += line + "\n";
    pos = end;
  }
  return out;
}

// A dataset root and a text file under a directory whose name has a space and a quote.
struct EvalData {
  std::string mmlu, text;
};
EvalData make_eval_data(const std::string& dir) {
  const std::string root = dir + "/it's data";
  std::filesystem::create_directories(root + "/mmlu/test");
  write_file_atomic(root + "/wiki test.txt", "Some text.\n");
  return {root + "/mmlu", root + "/wiki test.txt"};
}

TEST(SlurmJob, EvaluationJobsRunEvalOnTheRunWithTheCalibrationsSizing) {
  const Fixture f = write_config("eval", kClusterYaml);
  const EvalData data = make_eval_data(f.dir);
  SlurmJobRequest request = request_for(f, {"flatquant.epochs=1"});
  request.evals = parse_eval_job_specs({"mmlu=" + data.mmlu, "ppl=" + data.text}, "--eval");
  request.eval_args = {"--shots", "5", "--subjects", "a b"};
  const std::vector<SlurmJob> jobs = render_slurm_jobs(request);
  ASSERT_EQ(jobs.size(), 3u);
  const std::string run = f.dir + "/runs/llama";
  EXPECT_EQ(jobs[0].script_name, "job.sbatch");
  EXPECT_EQ(jobs[0].command.at(1), "calibrate");
  EXPECT_EQ(jobs[1].script_name, "eval-mmlu.sbatch");
  EXPECT_EQ(jobs[2].script_name, "eval-ppl.sbatch");
  EXPECT_EQ(jobs[1].command,
            (std::vector<std::string>{"/opt/fq/bin/flatquant", "eval", "--run", run, "--task", "mmlu", "--data",
                                      data.mmlu, "--report", run + "/mmlu.json", "--shots", "5", "--subjects", "a b"}));
  EXPECT_EQ(jobs[2].command,
            (std::vector<std::string>{"/opt/fq/bin/flatquant", "eval", "--run", run, "--task", "ppl", "--text",
                                      data.text, "--report", run + "/ppl.json", "--shots", "5", "--subjects", "a b"}));
  // Same nodes, ranks, GPUs, time, partition, signal, log pattern...; a job name of its own.
  EXPECT_EQ(sizing_of(jobs[1].script), sizing_of(jobs[0].script));
  EXPECT_TRUE(contains(sizing_of(jobs[0].script), "#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=8\n"));
  EXPECT_TRUE(contains(jobs[1].script, "#SBATCH --job-name=fq-70b-mmlu\n")) << jobs[1].script;
  EXPECT_TRUE(contains(jobs[2].script, "#SBATCH --job-name=fq-70b-ppl\n")) << jobs[2].script;
  EXPECT_TRUE(contains(jobs[1].script, "\nmodule load cuda/12.4\n")) << jobs[1].script;
  EXPECT_TRUE(contains(jobs[1].script, "srun --mpi=pmix --kill-on-bad-exit=1 /opt/fq/bin/flatquant eval --run " + run +
                                           " --task mmlu --data '" + f.dir + "/it'\\''s data/mmlu' --report " + run +
                                           "/mmlu.json --shots 5 --subjects 'a b' &"))
      << jobs[1].script;

  // Run by bash with a fake srun that records its words: every path arrives as one argument.
  std::filesystem::create_directories(f.dir + "/bin");
  write_file_atomic(f.dir + "/bin/srun", "#!/bin/bash\nwhile [[ $1 == -* ]]; do shift; done\nprintf '%s\\n' \"$@\" > " +
                                              f.dir + "/srun.args\n");
  std::filesystem::permissions(f.dir + "/bin/srun", std::filesystem::perms::owner_all);
  write_file_atomic(f.dir + "/eval-ppl.sbatch", jobs[2].script);
  const char* path = std::getenv("PATH");
  const test::ChildExit ran = test::run_child({"bash", f.dir + "/eval-ppl.sbatch"}, f.dir + "/eval-ppl.log", 30,
                                              {{"PATH", f.dir + "/bin:" + (path ? path : "/usr/bin:/bin")}});
  ASSERT_EQ(ran.code, 0) << read_file(f.dir + "/eval-ppl.log");
  std::string expected;
  for (const std::string& word : jobs[2].command) expected += word + "\n";
  EXPECT_EQ(read_file(f.dir + "/srun.args"), expected);
}

TEST(SlurmJob, ExistingRunGetsEvaluationJobsSizedByItsSavedConfig) {
  const Fixture f = write_config("existing", kClusterYaml);
  const EvalData data = make_eval_data(f.dir);
  const std::string run = f.dir + "/done";
  std::filesystem::create_directories(run);
  // What the calibration saved when it started: the effective config, every key.
  write_file_atomic(run + "/config.yaml", run_config_yaml(load_run_config(f.config, {"slurm.time=02:00:00"})));
  SlurmJobRequest request;
  request.existing_run = run;
  request.overrides = {"slurm.nodes=1"};
  request.flatquant_binary = "/opt/fq/bin/flatquant";
  request.evals = parse_eval_job_specs({"ceval=" + data.mmlu}, "--eval");
  const std::vector<SlurmJob> jobs = render_slurm_jobs(request);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].script_name, "eval-ceval.sbatch");
  EXPECT_EQ(jobs[0].run_dir, run);
  for (const std::string& line :
       std::vector<std::string>{"#SBATCH --job-name=fq-70b-ceval\n", "#SBATCH --nodes=1\n", "#SBATCH --time=02:00:00\n",
                                "#SBATCH --gpus-per-node=8\n", "#SBATCH --output=" + run + "/%x-%j.out\n"}) {
    EXPECT_TRUE(contains(jobs[0].script, line)) << "missing " << line << jobs[0].script;
  }
  EXPECT_TRUE(contains(jobs[0].script, "/opt/fq/bin/flatquant eval --run " + run + " --task ceval --data " + cluster::shell_quote(data.mmlu) + " --report ")) << jobs[0].script;

  request.existing_run = f.dir + "/never calibrated";
  test::expect_error([&] { render_slurm_jobs(request); }, {f.dir + "/never calibrated", "config.yaml"});
  request.existing_run = run;
  request.evals.clear();
  test::expect_error([&] { render_slurm_jobs(request); }, {run, "without evaluation jobs"});
}

TEST(SlurmJob, BadEvaluationRequestsNameTheFlag) {
  const Fixture f = write_config("bad_eval", kClusterYaml);
  const EvalData data = make_eval_data(f.dir);
  const auto parse = [](const std::string& value) { return parse_eval_job_specs({value}, "--eval"); };
  test::expect_error([&] { parse("hellaswag=" + data.mmlu); }, {"--eval", "hellaswag", "ppl, mmlu, ceval"});
  test::expect_error([&] { parse("mmlu"); }, {"--eval 'mmlu'", "TASK=PATH"});
  test::expect_error([&] { parse("mmlu="); }, {"--eval 'mmlu='", "no data path"});
  test::expect_error([&] { parse("mmlu=" + f.dir + "/missing"); }, {"--eval", f.dir + "/missing", "not a directory"});
  test::expect_error([&] { parse("ppl=" + data.mmlu); }, {"--eval", data.mmlu, "not a file"});
  test::expect_error([&] { parse_eval_job_specs({"mmlu=" + data.mmlu, "mmlu=" + data.mmlu}, "--eval"); },
                     {"--eval", "'mmlu' given twice"});
  // Relative paths become absolute: the job starts in another directory.
  const std::string cwd = std::filesystem::current_path().string();
  std::filesystem::current_path(f.dir);
  const std::vector<EvalJobSpec> relative = parse("ppl=it's data/wiki test.txt");
  std::filesystem::current_path(cwd);
  EXPECT_EQ(relative.at(0).data, data.text);
  test::expect_error([] { check_eval_args({"--shots", "5", "--report=x.json"}); }, {"--report=x.json", "--report"});
  test::expect_error([] { check_eval_args({"--task", "ppl"}); }, {"'--task'"});
  check_eval_args({"--shots", "5", "--reuse-prefix", "false"});
  SlurmJobRequest request = request_for(f);
  request.eval_args = {"--shots", "5"};
  test::expect_error([&] { render_slurm_jobs(request); }, {"evaluation arguments without an evaluation job"});
}

}  // namespace
}  // namespace fq::pipelines
