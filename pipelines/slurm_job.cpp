#include "pipelines/slurm_job.h"

#include <filesystem>

#include "cluster/slurm/sbatch_render.h"
#include "lib/core/error.h"

namespace fq::pipelines {
namespace {

// Job commands name files by absolute path: the job starts in another directory, maybe on another node.
std::string absolute_path(const std::string& path) {
  return std::filesystem::absolute(path).lexically_normal().string();
}

// A job of the run: the config's sizing under `job_name`, launching `command` on every rank.
SlurmJob render_job(const RunConfig& config, const std::string& run_dir, const std::string& script_name,
                    const std::string& job_name, std::vector<std::string> command) {
  SlurmJob job;
  job.script_name = script_name;
  job.run_dir = run_dir;
  job.spec = slurm_spec_of(config, run_dir);
  job.spec.job_name = job_name;
  job.command = std::move(command);
  job.script = cluster::render_sbatch(job.spec, job.command);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(job.spec.output).parent_path(), ec);
  FQ_CHECK(!ec, "cannot create the directory of the job log '", job.spec.output, "': ", ec.message());
  return job;
}

}  // namespace

cluster::SlurmSpec slurm_spec_of(const RunConfig& config, const std::string& run_dir) {
  const SlurmConfig& s = config.slurm;
  // Expert groups are formed inside a node (cluster/shard_plan.h): a group may not straddle two nodes.
  FQ_CHECK(s.ntasks_per_node % config.distributed.expert_parallel == 0, "config key 'distributed.expert_parallel' = ",
           config.distributed.expert_parallel, " must divide 'slurm.ntasks_per_node' = ", s.ntasks_per_node,
           " (the ranks sharing a MoE layer sit on one node)");
  FQ_CHECK(s.gpus_per_node == 0 || s.ntasks_per_node <= s.gpus_per_node, "config key 'slurm.ntasks_per_node' = ",
           s.ntasks_per_node, " is more than 'slurm.gpus_per_node' = ", s.gpus_per_node,
           ": one rank per GPU (ranks would share GPUs)");
  cluster::SlurmSpec spec;
  spec.job_name = s.job_name;
  spec.nodes = static_cast<int>(s.nodes);
  spec.ntasks_per_node = static_cast<int>(s.ntasks_per_node);
  spec.gpus_per_node = static_cast<int>(s.gpus_per_node);
  spec.cpus_per_task = static_cast<int>(s.cpus_per_task);
  spec.memory = s.memory;
  spec.time = s.time;
  spec.partition = s.partition;
  spec.account = s.account;
  spec.exclusive = s.exclusive;
  spec.requeue = s.requeue;
  spec.signal = s.signal;
  spec.launcher = cluster::parse_launcher(s.launcher, "config key 'slurm.launcher'");
  spec.output = (std::filesystem::path(run_dir) / s.output).lexically_normal().string();
  if (!s.setup.empty()) spec.setup = {s.setup};
  try {
    cluster::validate_slurm_spec(spec);
  } catch (const Error& e) {
    // "slurm spec: 'time' ..." names the field; the user knows it as the config key slurm.time.
    throw Error(str("config section 'slurm': ", e.what()));
  }
  return spec;
}

std::vector<EvalJobSpec> parse_eval_job_specs(const std::vector<std::string>& values, const std::string& flag) {
  std::vector<EvalJobSpec> specs;
  for (const std::string& value : values) {
    const std::size_t equals = value.find('=');
    FQ_CHECK(equals != std::string::npos, flag, " '", value, "': expected TASK=PATH, e.g. mmlu=/data/mmlu");
    EvalJobSpec spec{value.substr(0, equals), value.substr(equals + 1)};
    const bool text_task = spec.task == "ppl";
    FQ_CHECK(text_task || spec.task == "mmlu" || spec.task == "ceval", flag, " '", value, "': task '", spec.task,
             "' is not one of ppl, mmlu, ceval");
    FQ_CHECK(!spec.data.empty(), flag, " '", value, "': no data path after '=' (",
             text_task ? "the perplexity text file" : "the dataset root with {dev,val,test}/", ")");
    spec.data = absolute_path(spec.data);
    FQ_CHECK(text_task ? std::filesystem::is_regular_file(spec.data) : std::filesystem::is_directory(spec.data), flag,
             " '", value, "': ", spec.data, " is not ", text_task ? "a file" : "a directory");
    for (const EvalJobSpec& earlier : specs) {
      FQ_CHECK(earlier.task != spec.task, flag, " '", value, "': task '", spec.task,
               "' given twice (its report is DIR/", spec.task, ".json)");
    }
    specs.push_back(spec);
  }
  return specs;
}

void check_eval_args(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    for (const char* own : {"--run", "--task", "--data", "--text", "--report"}) {
      FQ_CHECK(arg != own && arg.rfind(std::string(own) + "=", 0) != 0, "evaluation argument '", arg,
               "': the evaluation jobs set ", own, " themselves (--eval TASK=PATH, reports in the run directory)");
    }
  }
}

std::vector<SlurmJob> render_slurm_jobs(const SlurmJobRequest& request) {
  check_eval_args(request.eval_args);
  FQ_CHECK(request.eval_args.empty() || !request.evals.empty(), "evaluation arguments without an evaluation job");
  const bool calibrate = request.existing_run.empty();
  FQ_CHECK(calibrate || !request.evals.empty(), "an existing run (", request.existing_run,
           ") without evaluation jobs: nothing to render");
  FQ_CHECK(calibrate || (request.config_path.empty() && request.out_dir.empty()),
           "an existing run's jobs take their config from ", request.existing_run, "/config.yaml: no config or out");
  RunConfig config;
  std::string run_dir;
  if (calibrate) {
    config = load_run_config(request.config_path, request.overrides);
    const std::string out_dir = request.out_dir.empty() ? config.output_dir : request.out_dir;
    FQ_CHECK(!out_dir.empty(), "no output directory: pass --out DIR or set output_dir in the config");
    FQ_CHECK(!config.model.empty(), "config key 'model' is empty: name a Hugging Face checkpoint directory");
    run_dir = absolute_path(out_dir);
  } else {
    run_dir = absolute_path(request.existing_run);
    const std::string saved = run_dir + "/config.yaml";
    FQ_CHECK(std::filesystem::is_regular_file(saved), "run directory ", run_dir,
             " has no config.yaml (the calibration writes it when it starts): not a calibration run");
    config = load_run_config(saved, request.overrides);
  }

  std::vector<SlurmJob> jobs;
  if (calibrate) {
    std::vector<std::string> command = {request.flatquant_binary, "calibrate"};
    if (!request.config_path.empty()) command.insert(command.end(), {"--config", absolute_path(request.config_path)});
    command.insert(command.end(), {"--out", run_dir});
    for (const std::string& o : request.overrides) command.insert(command.end(), {"--set", o});
    jobs.push_back(render_job(config, run_dir, "job.sbatch", config.slurm.job_name, std::move(command)));
  }
  for (const EvalJobSpec& eval : request.evals) {
    // `eval --run` takes the model and transforms.h5 from the run's config.yaml, which the calibration
    // writes with its overrides; for an existing run, the overrides only size the job.
    std::vector<std::string> command = {request.flatquant_binary, "eval", "--run", run_dir, "--task", eval.task,
                                        eval.task == "ppl" ? "--text" : "--data", eval.data,
                                        "--report", run_dir + "/" + eval.task + ".json"};
    command.insert(command.end(), request.eval_args.begin(), request.eval_args.end());
    jobs.push_back(render_job(config, run_dir, "eval-" + eval.task + ".sbatch",
                              config.slurm.job_name + "-" + eval.task, std::move(command)));
  }
  return jobs;
}

}  // namespace fq::pipelines
