// `flatquant gather --run DIR`: collect a run's per-layer parameter files into transforms.h5 after the fact.
#include <iostream>

#include "apps/flatquant/cli.h"
#include "lib/core/exit_codes.h"
#include "pipelines/gather_run.h"

namespace fq::cli {
namespace {

int run(const po::variables_map& vm) {
  const Json report = pipelines::gather_run_directory(vm["run"].as<std::string>());
  std::cout << report["totals"].dump() << "\n";
  return kExitOk;
}

}  // namespace

int cmd_gather(const std::vector<std::string>& args) {
  po::options_description options("gather options");
  options.add_options()("run", po::value<std::string>()->required(), "calibration run directory");
  const std::string synopsis = "--run DIR\n\n"
      "Collects DIR/layers/layer_NNN.h5 into DIR/transforms.h5 (and report.json, the manifest's per-layer status).\n"
      "Fails, listing them, when some layers are neither calibrated nor skipped: run calibrate again to finish them.";
  po::variables_map vm;
  int code = 0;
  if (!parse("gather", synopsis, options, args, &vm, &code)) return code;
  return run_guarded("gather", run, vm);
}

}  // namespace fq::cli
