// `flatquant slurm --config FILE [--out DIR] [--submit] [--output SCRIPT]`: the batch script of a
// calibration job from the config's slurm: section; printed, written, or submitted with sbatch.
#include <filesystem>
#include <iostream>

#include "apps/flatquant/cli.h"
#include "cluster/slurm/sbatch_submit.h"
#include "lib/core/atomic_file.h"
#include "lib/core/exit_codes.h"
#include "pipelines/slurm_job.h"

namespace fq::cli {
namespace {

int run(const po::variables_map& vm) {
  pipelines::SlurmJobRequest request;
  request.config_path = vm["config"].as<std::string>();
  request.out_dir = vm["out"].as<std::string>();
  if (vm.count("set")) request.overrides = vm["set"].as<std::vector<std::string>>();
  // The job runs this very binary (by absolute path: the job's PATH may differ).
  request.flatquant_binary = std::filesystem::read_symlink("/proc/self/exe").string();
  const pipelines::SlurmJob job = pipelines::render_calibration_job(request);
  std::string script_path = vm["output"].as<std::string>();
  const bool submit = vm["submit"].as<bool>();
  if (script_path.empty() && !submit) {
    std::cout << job.script;
    return kExitOk;
  }
  if (script_path.empty()) script_path = job.run_dir + "/job.sbatch";
  write_file_atomic(script_path, job.script);
  std::cerr << "flatquant slurm: wrote " << script_path << "\n";
  if (submit) {
    const std::string job_id = cluster::submit_sbatch(script_path);
    std::cerr << "flatquant slurm: submitted job " << job_id << "; log " << job.spec.output << "\n";
    std::cout << job_id << "\n";
  }
  return kExitOk;
}

}  // namespace

int cmd_slurm(const std::vector<std::string>& args) {
  po::options_description options("slurm options");
  options.add_options()
      ("config,c", po::value<std::string>()->default_value(""), "YAML config of the calibration (its slurm: section)")
      ("out,o", po::value<std::string>()->default_value(""), "run directory (overrides output_dir)")
      ("set", po::value<std::vector<std::string>>()->composing(), "override a config key: --set slurm.nodes=2")
      ("output", po::value<std::string>()->default_value(""),
       "write the script here (default: print it; with --submit: DIR/job.sbatch)")
      ("submit", po::bool_switch()->default_value(false), "submit the script with sbatch and print the job id");
  const std::string synopsis = "--config FILE [--out DIR] [--set key=value ...] [--output SCRIPT] [--submit]\n\n"
      "Renders the sbatch script of `flatquant calibrate` with the same config, out and overrides: one rank per\n"
      "task, srun --mpi=pmix or mpirun; the pre-timeout signal and preemption make the ranks save and exit 75,\n"
      "and the script requeues the job, which resumes (cluster/README.md).";
  po::variables_map vm;
  int code = 0;
  if (!parse("slurm", synopsis, options, args, &vm, &code)) return code;
  return run_guarded("slurm", run, vm);
}

}  // namespace fq::cli
