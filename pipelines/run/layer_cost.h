// Cost estimates of calibrating each decoder layer, for the sharding plan: proportional to the layer's
// parameter count (every FlatQuant step transforms and fake-quantizes every weight of the layer, all
// routed experts included, so a DeepSeek V3 MoE layer costs ~20x a dense one).
#pragma once

#include <cstdint>

#include "lib/io/model_config.h"

namespace fq::pipelines {

double layer_parameter_count(const io::ModelConfig& config, int64_t layer);

}  // namespace fq::pipelines
