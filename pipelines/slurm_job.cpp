#include "pipelines/slurm_job.h"

#include <filesystem>

#include "cluster/slurm/sbatch_render.h"
#include "lib/core/error.h"

namespace fq::pipelines {

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

SlurmJob render_calibration_job(const SlurmJobRequest& request) {
  RunConfig config = load_run_config(request.config_path, request.overrides);
  const std::string out_dir = request.out_dir.empty() ? config.output_dir : request.out_dir;
  FQ_CHECK(!out_dir.empty(), "no output directory: pass --out DIR or set output_dir in the config");
  FQ_CHECK(!config.model.empty(), "config key 'model' is empty: name a Hugging Face checkpoint directory");
  SlurmJob job;
  job.run_dir = std::filesystem::absolute(out_dir).lexically_normal().string();
  job.spec = slurm_spec_of(config, job.run_dir);
  job.command = {request.flatquant_binary, "calibrate"};
  // Absolute paths: the job starts in another directory, maybe on another node.
  if (!request.config_path.empty()) {
    job.command.insert(job.command.end(),
                       {"--config", std::filesystem::absolute(request.config_path).lexically_normal().string()});
  }
  job.command.insert(job.command.end(), {"--out", job.run_dir});
  for (const std::string& o : request.overrides) job.command.insert(job.command.end(), {"--set", o});
  job.script = cluster::render_sbatch(job.spec, job.command);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(job.spec.output).parent_path(), ec);
  FQ_CHECK(!ec, "cannot create the directory of the job log '", job.spec.output, "': ", ec.message());
  return job;
}

}  // namespace fq::pipelines
