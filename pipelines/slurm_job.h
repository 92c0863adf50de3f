// `flatquant slurm`: the batch scripts of a calibration job and of its evaluation jobs, from the config's
// `slurm:` section (cluster/slurm/: template, traps that forward the pre-timeout signal to the step,
// requeue on exit 75). Every job of a run uses the same sizing and the same template.
#pragma once

#include <string>
#include <vector>

#include "cluster/slurm/slurm_spec.h"
#include "pipelines/config/run_config.h"

namespace fq::pipelines {

// One `--eval TASK=PATH`: a `flatquant eval --task TASK` job of the run.
struct EvalJobSpec {
  std::string task;  // ppl | mmlu | ceval
  std::string data;  // absolute: the text file (ppl) or the dataset root (mmlu, ceval)
};

// Parses the "TASK=PATH" values given to `flag`: known tasks, each at most once (they share the run's
// report names), and paths that exist (a file for ppl, a directory for mmlu/ceval), made absolute since
// the job starts elsewhere. Throws fq::Error naming `flag` and the value.
std::vector<EvalJobSpec> parse_eval_job_specs(const std::vector<std::string>& values, const std::string& flag);

// Refuses extra `flatquant eval` arguments that the evaluation jobs set themselves (--run, --task, --data,
// --text, --report). Throws fq::Error naming the argument.
void check_eval_args(const std::vector<std::string>& args);

struct SlurmJobRequest {
  std::string config_path;             // YAML of the calibration (its slurm: section sizes the jobs)
  std::vector<std::string> overrides;  // --set key=value, also passed on to the job's calibrate command
  std::string out_dir;                 // --out (overrides output_dir)
  std::string flatquant_binary;        // absolute path of the binary the jobs run
  // Evaluation jobs only, of this existing run directory: sized by its config.yaml (which the calibration
  // writes when it starts) with `overrides`; config_path and out_dir must be empty.
  std::string existing_run;
  std::vector<EvalJobSpec> evals;      // one job each, after the calibration
  std::vector<std::string> eval_args;  // appended to every `flatquant eval` command (--shots 5, ...)
};

struct SlurmJob {
  std::string script_name;           // default file name in the run directory: job.sbatch, eval-<task>.sbatch
  std::string run_dir;               // absolute
  cluster::SlurmSpec spec;           // as rendered
  std::vector<std::string> command;  // what every rank runs
  std::string script;                // the rendered batch script
};

// The job's SlurmSpec from a config (relative slurm.output resolves against `run_dir`). Throws fq::Error
// naming the slurm.* key of an invalid value, or expert_parallel not dividing the ranks of a node.
cluster::SlurmSpec slurm_spec_of(const RunConfig& config, const std::string& run_dir);

// Loads the config, checks it, and renders the scripts: the calibration job (unless existing_run is set),
// then one evaluation job per request.evals entry, in order; creates the run directory (the job logs go
// there by default, and sbatch does not create directories). An evaluation job runs
// `flatquant eval --run DIR --task T (--data|--text) PATH --report DIR/T.json <eval_args>` on every rank,
// named `<slurm.job_name>-T`. Throws fq::Error naming the flag or key of a bad value.
std::vector<SlurmJob> render_slurm_jobs(const SlurmJobRequest& request);

}  // namespace fq::pipelines
