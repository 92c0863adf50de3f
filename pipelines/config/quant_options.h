// The run config translated into the options lib/flat understands (calibration and evaluation).
#pragma once

#include <c10/core/ScalarType.h>

#include "lib/flat/flat_options.h"
#include "lib/flat/frozen_layer.h"
#include "pipelines/config/run_config.h"

namespace fq::pipelines {

flat::FlatOptions flat_options(const RunConfig& config);
flat::FrozenQuantOptions frozen_options(const QuantConfig& quant);
c10::ScalarType compute_dtype(const RunConfig& config);
c10::ScalarType activation_dtype(const RunConfig& config);
c10::ScalarType target_dtype(const RunConfig& config);

}  // namespace fq::pipelines
