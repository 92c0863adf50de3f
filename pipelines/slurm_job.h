// `flatquant slurm`: the batch script of a calibration job, from the config's `slurm:` section
// (cluster/slurm/: template, traps that forward the pre-timeout signal to the step, requeue on exit 75).
#pragma once

#include <string>
#include <vector>

#include "cluster/slurm/slurm_spec.h"
#include "pipelines/config/run_config.h"

namespace fq::pipelines {

struct SlurmJobRequest {
  std::string config_path;             // YAML of the calibration (its slurm: section sizes the job)
  std::vector<std::string> overrides;  // --set key=value, also passed on to the job's calibrate command
  std::string out_dir;                 // --out (overrides output_dir)
  std::string flatquant_binary;        // absolute path of the binary the job runs
};

struct SlurmJob {
  std::string run_dir;          // absolute
  cluster::SlurmSpec spec;      // as rendered
  std::vector<std::string> command;  // what every rank runs
  std::string script;           // the rendered batch script
};

// The job's SlurmSpec from a config (relative slurm.output resolves against `run_dir`). Throws fq::Error
// naming the slurm.* key of an invalid value, or expert_parallel not dividing the ranks of a node.
cluster::SlurmSpec slurm_spec_of(const RunConfig& config, const std::string& run_dir);

// Loads the config, checks it, and renders the script; creates the run directory (the job log goes there
// by default, and sbatch does not create directories).
SlurmJob render_calibration_job(const SlurmJobRequest& request);

}  // namespace fq::pipelines
