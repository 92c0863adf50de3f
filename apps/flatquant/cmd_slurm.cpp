// `flatquant slurm --config FILE --out DIR [--submit]`: writes the sbatch script of a calibration run from
// the config's `slurm:` section (nodes, ranks and GPUs per node, time, partition, account, requeue, the
// pre-timeout signal, srun or mpirun) and optionally submits it. The job runs `flatquant calibrate` with
// the same config and run directory, so a requeued or resubmitted job resumes.
#include <filesystem>
#include <iostream>

#include "apps/flatquant/cli.h"
#include "cluster/slurm/sbatch_submit.h"
#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "pipelines/config/run_config.h"
#include "pipelines/config/slurm_job.h"

namespace fq::cli {
namespace {

std::string absolute(const std::string& path) {
  return path.empty() ? path : std::filesystem::absolute(path).lexically_normal().string();
}

int run(const po::variables_map& vm) {
  pipelines::CalibrationJob job;
  job.config_path = absolute(vm["config"].as<std::string>());
  if (vm.count("set")) job.overrides = vm["set"].as<std::vector<std::string>>();
  const pipelines::RunConfig config = pipelines::load_run_config(job.config_path, job.overrides);
  job.run_dir = absolute(vm["out"].as<std::string>().empty() ? config.output_dir : vm["out"].as<std::string>());
  FQ_CHECK(!job.run_dir.empty(), "no run directory: pass --out DIR or set output_dir in the config");
  job.flatquant_binary = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string script = pipelines::render_calibration_job(config, job);

  // sbatch does not create the directory of --output: the run directory must exist before the job starts.
  std::filesystem::create_directories(job.run_dir);
  const std::string script_path =
      vm["script"].as<std::string>().empty() ? job.run_dir + "/flatquant.sbatch" : absolute(vm["script"].as<std::string>());
  write_file_atomic(script_path, script);
  std::filesystem::permissions(script_path, std::filesystem::perms::owner_exec, std::filesystem::perm_options::add);
  std::cout << script << "\n# written to " << script_path << std::endl;
  if (vm["submit"].as<bool>()) {
    const std::string job_id = cluster::submit_sbatch(script_path);
    std::cout << "submitted job " << job_id << " (run directory " << job.run_dir << ")" << std::endl;
  }
  return 0;
}

}  // namespace

int cmd_slurm(const std::vector<std::string>& args) {
  po::options_description options("slurm options");
  options.add_options()
      ("config,c", po::value<std::string>()->default_value(""), "YAML config with a slurm: section (see configs/)")
      ("out,o", po::value<std::string>()->default_value(""), "run directory (overrides output_dir)")
      ("set", po::value<std::vector<std::string>>()->composing(), "override a config key: --set slurm.nodes=2")
      ("script", po::value<std::string>()->default_value(""), "where to write the script (default DIR/flatquant.sbatch)")
      ("submit", po::bool_switch()->default_value(false), "submit it with sbatch and print the job id");
  const std::string synopsis = "--config FILE --out DIR [--set key=value ...] [--submit]\n\n"
      "Writes the sbatch script of `flatquant calibrate --config FILE --out DIR` from the config's slurm: keys\n"
      "(slurm.nodes, ntasks_per_node, gpus_per_node, cpus_per_task, time, partition, account, requeue, signal,\n"
      "launcher, output). Preempted or timed out, the job saves what is complete and requeues itself; the same\n"
      "command then resumes. See cluster/README.md.";
  po::variables_map vm;
  int code = 0;
  if (!parse("slurm", synopsis, options, args, &vm, &code)) return code;
  return run_guarded("slurm", run, vm);
}

}  // namespace fq::cli
