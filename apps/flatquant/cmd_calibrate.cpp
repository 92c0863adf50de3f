// `flatquant calibrate --config FILE --out DIR`: the main job (capture, calibrate, gather), resumable.
#include <iostream>

#include "apps/flatquant/cli.h"
#include "lib/core/exit_codes.h"
#include "pipelines/calibration_run.h"
#include "pipelines/config/run_config.h"

namespace fq::cli {
namespace {

int run(const po::variables_map& vm) {
  pipelines::CalibrationRequest request;
  request.config_path = vm["config"].as<std::string>();
  request.out_dir = vm["out"].as<std::string>();
  request.stage = vm["stage"].as<std::string>();
  if (vm.count("set")) request.overrides = vm["set"].as<std::vector<std::string>>();
  return pipelines::run_calibration(request);
}

}  // namespace

int cmd_calibrate(const std::vector<std::string>& args) {
  po::options_description options("calibrate options");
  options.add_options()
      ("config,c", po::value<std::string>()->default_value(""), "YAML config (see configs/); empty: defaults")
      ("out,o", po::value<std::string>()->default_value(""), "run directory (overrides output_dir)")
      ("set", po::value<std::vector<std::string>>()->composing(), "override a config key: --set flatquant.epochs=3")
      ("stage", po::value<std::string>()->default_value("all")->notifier([](const std::string& s) {
         if (s != "all" && s != "capture" && s != "calibrate" && s != "gather") {
           throw po::validation_error(po::validation_error::invalid_option_value, "stage", s);
         }
       }), "run only one stage: all, capture, calibrate or gather");
  const std::string synopsis = "--config FILE --out DIR [--set key=value ...]\n\n"
      "Runs capture -> calibrate -> gather; killed or stopped (SIGTERM/SIGUSR1: exit 75), the same command resumes.\n"
      "Start several ranks with mpirun -np N or srun. Config keys (YAML or --set):\n" + pipelines::run_config_help();
  po::variables_map vm;
  int code = 0;
  if (!parse("calibrate", synopsis, options, args, &vm, &code)) return code;
  return run_guarded("calibrate", run, vm);
}

}  // namespace fq::cli
