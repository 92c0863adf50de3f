// Random decoder-layer weights of any config, made directly on a device: linear rows ~ N(0, 1/in), norms
// 1 + N(0, 0.1^2), router bias N(0, 0.1^2). For benchmarks of full-size layers (a DeepSeek V3 MoE layer
// is 11.5 B parameters: generated on the GPU in seconds instead of written and read as a checkpoint)
// and for tests. Uses the default generator of `device` (seed it with at::manual_seed).
#pragma once

#include <cstdint>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "lib/io/model_config.h"
#include "lib/model/layer_weights.h"

namespace fq::model {

// The layer `layer` of `config` (dense or MoE as config.is_moe_layer says). The router and its bias are
// float32, every other tensor `dtype`.
LayerWeights random_layer_weights(const io::ModelConfig& config, int64_t layer, c10::ScalarType dtype,
                                  c10::Device device);

}  // namespace fq::model
