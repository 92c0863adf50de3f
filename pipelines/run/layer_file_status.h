// The state of one layer's parameter file (DIR/layers/layer_NNN.h5), as the calibrate stage (what is left
// to do) and the gather stage (is everything there) both need it: verified against the run's identity.
#pragma once

#include <cstdint>
#include <string>

#include "lib/store/attribute_value.h"
#include "pipelines/run/run_layout.h"

namespace fq::pipelines {

// "calibrated", "skipped", or "" when the file is absent. Throws fq::Error naming the file when it exists
// but is corrupt, holds another layer, has an unknown status, or carries other `run_attributes` (another
// run's model fingerprint or config hash).
std::string layer_file_status(const RunLayout& layout, const store::Attributes& run_attributes, int64_t layer);

}  // namespace fq::pipelines
