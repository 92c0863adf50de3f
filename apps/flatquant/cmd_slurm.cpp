// `flatquant slurm (--config FILE [--out DIR] | --run DIR) [--eval TASK=PATH ...] [--submit] [-- EVAL ARGS]`:
// the batch scripts of a calibration job and of its evaluation jobs, from the config's slurm: section;
// printed, written, or submitted with sbatch (evaluations after the calibration succeeded).
#include <algorithm>
#include <utility>
#include <filesystem>
#include <iostream>

#include "apps/flatquant/cli.h"
#include "cluster/slurm/sbatch_submit.h"
#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/exit_codes.h"
#include "pipelines/slurm_job.h"

namespace fq::cli {
namespace {

std::vector<std::string> eval_values(const po::variables_map& vm) {
  return vm.count("eval") ? vm["eval"].as<std::vector<std::string>>() : std::vector<std::string>{};
}

// The job's log file: sbatch's --output pattern with the job name (%x) and id (%j) filled in.
std::string log_path(const cluster::SlurmSpec& spec, const std::string& job_id) {
  std::string path = spec.output;
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"%x", spec.job_name}, {"%j", job_id}}) {
    for (std::size_t at; (at = path.find(key)) != std::string::npos;) path.replace(at, key.size(), value);
  }
  return path;
}

int run(const po::variables_map& vm, const std::vector<std::string>& eval_args) {
  pipelines::SlurmJobRequest request;
  request.config_path = vm["config"].as<std::string>();
  request.out_dir = vm["out"].as<std::string>();
  request.existing_run = vm["run"].as<std::string>();
  if (vm.count("set")) request.overrides = vm["set"].as<std::vector<std::string>>();
  request.evals = pipelines::parse_eval_job_specs(eval_values(vm), "--eval");
  request.eval_args = eval_args;
  // The jobs run this very binary (by absolute path: the job's PATH may differ).
  request.flatquant_binary = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::vector<pipelines::SlurmJob> jobs = pipelines::render_slurm_jobs(request);
  const bool submit = vm["submit"].as<bool>();
  const std::string output = vm["output"].as<std::string>();
  if (jobs.size() == 1 && request.evals.empty() && output.empty() && !submit) {
    std::cout << jobs[0].script;  // the calibration script alone: printed
    return kExitOk;
  }
  // --output names the calibration's script; the evaluation scripts lie beside it in the run directory.
  std::vector<std::string> paths;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const bool calibration = i == 0 && request.existing_run.empty();
    paths.push_back(calibration && !output.empty() ? output : jobs[i].run_dir + "/" + jobs[i].script_name);
    write_file_atomic(paths.back(), jobs[i].script);
    std::cerr << "flatquant slurm: wrote " << paths.back() << "\n";
  }
  if (!submit) {
    for (const std::string& path : paths) std::cout << path << "\n";
    return kExitOk;
  }
  // Evaluations wait for the calibration to end well (a requeued calibration is still pending); should
  // it fail, Slurm cancels them instead of keeping them pending forever.
  std::vector<std::string> after;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const std::string job_id = cluster::submit_sbatch(paths[i], after);
    std::cerr << "flatquant slurm: submitted job " << job_id << " (" << jobs[i].spec.job_name << ", " << paths[i]
              << (after.empty() ? "" : ", " + after[0]) << "); log " << log_path(jobs[i].spec, job_id) << "\n";
    std::cout << job_id << std::endl;  // flushed: a later failed submission still leaves the ids printed
    if (i == 0 && request.existing_run.empty()) after = {"--dependency=afterok:" + job_id, "--kill-on-invalid-dep=yes"};
  }
  return kExitOk;
}

// Checks that involve several flags; like parse(), a bad command line is kExitUsage.
bool command_line_ok(const po::variables_map& vm, const std::vector<std::string>& eval_args) {
  try {
    const bool existing_run = !vm["run"].as<std::string>().empty();
    const bool evals = vm.count("eval") > 0;
    FQ_CHECK(!existing_run || (vm["config"].as<std::string>().empty() && vm["out"].as<std::string>().empty() &&
                               vm["output"].as<std::string>().empty()),
             "--run DIR renders only evaluation jobs, sized by DIR/config.yaml: it takes no --config, --out or --output");
    FQ_CHECK(!existing_run || evals, "--run DIR needs at least one --eval TASK=PATH");
    FQ_CHECK(eval_args.empty() || evals, "the arguments after -- go to the evaluation jobs: give --eval TASK=PATH");
    pipelines::check_eval_args(eval_args);
  } catch (const Error& e) {
    std::cerr << "flatquant slurm: " << e.what() << "\nrun 'flatquant slurm --help' for the options\n";
    return false;
  }
  return true;
}

}  // namespace

int cmd_slurm(const std::vector<std::string>& args) {
  po::options_description options("slurm options");
  options.add_options()
      ("config,c", po::value<std::string>()->default_value(""), "YAML config of the calibration (its slurm: section)")
      ("out,o", po::value<std::string>()->default_value(""), "run directory (overrides output_dir)")
      ("run", po::value<std::string>()->default_value(""),
       "an existing run directory: only its evaluation jobs, sized by its config.yaml (and --set)")
      ("set", po::value<std::vector<std::string>>()->composing(), "override a config key: --set slurm.nodes=2")
      ("eval", po::value<std::vector<std::string>>()->composing()->notifier([](const std::vector<std::string>& v) {
         pipelines::parse_eval_job_specs(v, "--eval");  // a bad value is a bad command line (exit 2)
       }),
       "an evaluation job, TASK=PATH: ppl=TEXT_FILE, mmlu=DATA_DIR or ceval=DATA_DIR (repeatable); its script is "
       "DIR/eval-TASK.sbatch, its report DIR/TASK.json")
      ("output", po::value<std::string>()->default_value(""),
       "write the calibration script here (default: print it; with --eval or --submit: DIR/job.sbatch)")
      ("submit", po::bool_switch()->default_value(false),
       "submit the scripts with sbatch, evaluations after the calibration (afterok), and print the job ids");
  const std::string synopsis =
      "(--config FILE [--out DIR] | --run DIR) [--set key=value ...] [--eval TASK=PATH ...] [--output SCRIPT]\n"
      "       [--submit] [-- EVAL ARGS...]\n\n"
      "Renders the sbatch script of `flatquant calibrate` with the same config, out and overrides: one rank per\n"
      "task, srun --mpi=pmix or mpirun; the pre-timeout signal and preemption make the ranks save and exit 75,\n"
      "and the script requeues the job, which resumes (cluster/README.md). Each --eval adds a job with the same\n"
      "sizing running `flatquant eval --run DIR --task TASK --data PATH (ppl: --text PATH) --report DIR/TASK.json`\n"
      "followed by EVAL ARGS (e.g. -- --shots 5 --device cuda). Scripts are written to the run directory and\n"
      "their paths printed; --submit prints one job id per line, the calibration's first.";
  // Words after `--` are passed on to every `flatquant eval` command, not parsed here.
  const auto separator = std::find(args.begin(), args.end(), "--");
  const std::vector<std::string> own(args.begin(), separator);
  const std::vector<std::string> eval_args(separator == args.end() ? separator : separator + 1, args.end());
  po::variables_map vm;
  int code = 0;
  if (!parse("slurm", synopsis, options, own, &vm, &code)) return code;
  if (!command_line_ok(vm, eval_args)) return kExitUsage;
  return run_guarded("slurm", [&eval_args](const po::variables_map& v) { return run(v, eval_args); }, vm);
}

}  // namespace fq::cli
