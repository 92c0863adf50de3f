// `flatquant gather --run DIR`: the gather stage after the fact, on a run directory alone (no model, no
// MPI): collects the per-layer parameter files into transforms.h5, writes report.json and the manifest's
// per-layer status. For a run whose ranks finished their layers but did not gather (stopped, or run with
// --stage calibrate), or to rebuild the artifact.
#pragma once

#include <string>

#include "lib/core/json.h"

namespace fq::pipelines {

// Takes the run lock of `run_dir` (refused while a calibration job holds it), checks that config.yaml still
// matches the manifest's identity, and gathers. Returns the report. Throws fq::Error naming the file or
// listing the layers that are neither calibrated nor skipped.
Json gather_run_directory(const std::string& run_dir);

}  // namespace fq::pipelines
