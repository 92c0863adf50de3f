#include "pipelines/gather_run.h"

#include <filesystem>

#include "cluster/run_lock.h"
#include "lib/core/error.h"
#include "pipelines/config/run_config.h"
#include "pipelines/run/run_layout.h"
#include "pipelines/run/run_manifest.h"
#include "pipelines/stages/gather_stage.h"

namespace fq::pipelines {

Json gather_run_directory(const std::string& run_dir) {
  const RunLayout layout(run_dir);
  for (const std::string& path : {layout.manifest_path(), layout.config_path()}) {
    FQ_CHECK(std::filesystem::exists(path), "'", layout.dir(), "' is not a calibration run directory: '", path,
             "' is missing");
  }
  // No calibration job may write layer files while they are collected.
  const cluster::RunLock lock = cluster::RunLock::acquire(layout.dir());
  const Json manifest = read_json_file(layout.manifest_path());
  FQ_CHECK(manifest.is_object() && manifest.contains("identity"), "'", layout.manifest_path(),
           "' is not a flatquant manifest (no identity)");
  const RunIdentity identity = RunIdentity::from_json(manifest["identity"], layout.manifest_path());
  const RunConfig config = load_run_config(layout.config_path(), {});
  FQ_CHECK(calibration_hash(config) == identity.config_hash, "'", layout.config_path(),
           "' does not match the run: its calibration settings hash to ", calibration_hash(config), " but '",
           layout.manifest_path(), "' has config_hash ", identity.config_hash,
           " (config.yaml was edited after the run; restore it)");
  return gather_transforms(layout, identity, config);
}

}  // namespace fq::pipelines
