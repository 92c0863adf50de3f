// `flatquant gather --run DIR`: after the fact, collect a run's per-layer parameter files into
// transforms.h5 with its manifest and report — e.g. after ranks finished their layers in separate jobs, or
// to rebuild a deleted artifact. The run's own config.yaml supplies the settings; an incomplete run is an
// error listing the layers that have no file.
#include <filesystem>

#include "apps/flatquant/cli.h"
#include "lib/core/error.h"
#include "pipelines/calibration_run.h"

namespace fq::cli {
namespace {

int run(const po::variables_map& vm) {
  const std::string dir = vm["run"].as<std::string>();
  pipelines::CalibrationRequest request;
  request.config_path = dir + "/config.yaml";
  FQ_CHECK(std::filesystem::exists(request.config_path), "--run '", dir, "' is not a calibration run directory: no ",
           request.config_path);
  request.out_dir = dir;
  request.stage = "gather";
  return pipelines::run_calibration(request);
}

}  // namespace

int cmd_gather(const std::vector<std::string>& args) {
  po::options_description options("gather options");
  options.add_options()("run", po::value<std::string>()->required(), "calibration run directory");
  const std::string synopsis = "--run DIR\n\n"
      "Writes DIR/transforms.h5, report.json and the manifest from DIR/layers/ (every layer calibrated or\n"
      "skipped; otherwise the missing layers are listed and nothing is written).";
  po::variables_map vm;
  int code = 0;
  if (!parse("gather", synopsis, options, args, &vm, &code)) return code;
  return run_guarded("gather", run, vm);
}

}  // namespace fq::cli
