// The Slurm batch job of a calibration run (`flatquant slurm`): the config's `slurm:` section as a
// cluster::SlurmSpec, and the job script that runs `flatquant calibrate` with the same config on every rank.
// A requeued or resubmitted job runs the same command, which resumes the run directory.
#pragma once

#include <string>
#include <vector>

#include "cluster/slurm/slurm_spec.h"
#include "pipelines/config/run_config.h"

namespace fq::pipelines {

// Errors name the config key (slurm.time, slurm.signal, ...).
cluster::SlurmSpec slurm_spec(const RunConfig& config);

struct CalibrationJob {
  std::string flatquant_binary;        // absolute path of the binary the ranks run
  std::string config_path;             // absolute path of the YAML config ("" for defaults only)
  std::vector<std::string> overrides;  // --set key=value, passed on unchanged
  std::string run_dir;                 // absolute run directory (--out)
};

// The sbatch script; its --output goes into the run directory when the configured pattern is relative.
std::string render_calibration_job(const RunConfig& config, const CalibrationJob& job);

}  // namespace fq::pipelines
