#include "pipelines/config/slurm_job.h"

#include "cluster/slurm/sbatch_render.h"
#include "lib/core/error.h"

namespace fq::pipelines {

cluster::SlurmSpec slurm_spec(const RunConfig& config) {
  const SlurmConfig& s = config.slurm;
  cluster::SlurmSpec spec;
  spec.job_name = s.job_name;
  spec.nodes = static_cast<int>(s.nodes);
  spec.ntasks_per_node = static_cast<int>(s.ntasks_per_node);
  spec.gpus_per_node = static_cast<int>(s.gpus_per_node);
  spec.cpus_per_task = static_cast<int>(s.cpus_per_task);
  spec.time = s.time;
  spec.partition = s.partition;
  spec.account = s.account;
  spec.requeue = s.requeue;
  spec.signal = s.signal;
  spec.launcher = cluster::parse_launcher(s.launcher, "config key 'slurm.launcher'");
  spec.output = s.output;
  try {
    cluster::validate_slurm_spec(spec);
  } catch (const Error& e) {
    throw Error(str("config section 'slurm': ", e.what()));
  }
  return spec;
}

std::string render_calibration_job(const RunConfig& config, const CalibrationJob& job) {
  cluster::SlurmSpec spec = slurm_spec(config);
  if (!spec.output.empty() && spec.output.front() != '/') spec.output = job.run_dir + "/" + spec.output;
  std::vector<std::string> command{job.flatquant_binary, "calibrate"};
  if (!job.config_path.empty()) command.insert(command.end(), {"--config", job.config_path});
  for (const std::string& o : job.overrides) command.insert(command.end(), {"--set", o});
  command.insert(command.end(), {"--out", job.run_dir});
  return cluster::render_sbatch(spec, command);
}

}  // namespace fq::pipelines
