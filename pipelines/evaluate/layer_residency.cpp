#include "pipelines/evaluate/layer_residency.h"

#include <c10/core/ScalarType.h>

#include "lib/core/error.h"
#include "pipelines/run/layer_cost.h"

namespace fq::pipelines {

LayerResidency parse_layer_residency(const std::string& name, const std::string& where) {
  if (name == "auto") return LayerResidency::kAuto;
  if (name == "resident") return LayerResidency::kResident;
  if (name == "stream") return LayerResidency::kStream;
  throw Error(str(where, " is '", name, "': expected auto, resident or stream"));
}

std::string layer_residency_name(LayerResidency residency) {
  switch (residency) {
    case LayerResidency::kAuto: return "auto";
    case LayerResidency::kResident: return "resident";
    case LayerResidency::kStream: return "stream";
  }
  return "?";
}

int64_t resident_weight_bytes(const io::ModelConfig& config, bool packed_int4, c10::ScalarType dtype) {
  const double element = static_cast<double>(c10::elementSize(dtype));
  double layers = 0;
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) layers += layer_parameter_count(config, layer);
  const double vocab_matrix = static_cast<double>(config.vocab_size) * static_cast<double>(config.hidden_size);
  const double outside = 2 * vocab_matrix + static_cast<double>(config.hidden_size);  // embedding, head, norm
  return static_cast<int64_t>(layers * (packed_int4 ? 0.5 : element) + outside * element);
}

bool keep_layers_resident(LayerResidency residency, int64_t weight_bytes, int64_t available_bytes) {
  switch (residency) {
    case LayerResidency::kResident: return true;
    case LayerResidency::kStream: return false;
    case LayerResidency::kAuto:
      return available_bytes > 0 &&
             static_cast<double>(weight_bytes) <= kResidentMemoryShare * static_cast<double>(available_bytes);
  }
  return false;
}

}  // namespace fq::pipelines
