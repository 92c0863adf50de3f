// Stage 2, calibrate: every rank calibrates the layers of its block at the same time, each layer from
// its input and target activation files, and writes layers/layer_NNN.h5 (learned parameters, or a
// "skipped" marker for layers left with identity transforms). Finished layers are verified and not redone.
#pragma once

#include <cstdint>
#include <string>

#include "lib/core/json.h"
#include "pipelines/run/run_context.h"

namespace fq::pipelines {

// Calibrates this rank's missing layers. Throws CalibrationStopped (layer_calibration.h) on a stop request.
void run_calibrate(const RunContext& ctx);

}  // namespace fq::pipelines
