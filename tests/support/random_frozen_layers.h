// FlatQuant parameters without a calibration: seeded random transforms with perturbed diag scales and
// clip factors, exported frozen as a calibration run would store them (tests of the evaluation paths).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lib/flat/flat_layer.h"
#include "lib/flat/frozen_layer.h"
#include "lib/io/model_config.h"
#include "lib/model/layer_weights.h"

namespace fq::flat::test {

// Moves trainable tensors of `flat` away from their initial values (s, diag and clipping would otherwise
// start at identity-like values that hide mistakes): clip logits ~ N(clip_logit_mean, 1), so that the
// squashed factors clip for real; with `scales`, singular values and diag scales ~ U(0.3, 2.3) too.
void perturb(FlatLayer& flat, uint64_t seed, double clip_logit_mean, bool scales = true);

// The frozen parameters (FlatLayer::export_frozen) of every layer of `config`, layer i from seed + i:
// the random orthogonal transforms of the initialisation (a model stays usable under them, as under
// random rotations) with perturbed clip factors.
std::map<int64_t, NamedTensors> random_frozen_layers(const io::ModelConfig& config, const FlatOptions& options,
                                                     uint64_t seed, double clip_logit_mean);

// One layer's frozen parameters: FlatLayer's initialisation from `seed`, perturbed from seed + 1 with clip
// logits ~ N(3, 1) (factors ~ 0.88 .. 0.98) and perturbed scales.
NamedTensors random_frozen_layer(const io::ModelConfig& config, int64_t layer, const FlatOptions& options,
                                 uint64_t seed);

// The evaluation's quantizer settings of a calibration's `options`, on `backend`.
FrozenQuantOptions frozen_quant_options(const FlatOptions& options, QuantBackend backend);

// The small layers the frozen-layer tests run, in this order: LLaMA, DeepSeek dense (layer 0), DeepSeek MoE
// (layer 1, q_lora) and DeepSeek MoE with a plain q_proj; case i's float32 CPU weights from `seed + i`.
struct SmallLayer {
  std::string name;
  io::ModelConfig config;
  model::LayerWeights weights;
  int64_t layer = 0;
};
std::vector<SmallLayer> small_layers(uint64_t seed);

// W4A4 with 4-bit Q/K/V caches, one group per (token, head) of 16: the frozen-layer tests' quantizers.
FlatOptions w4a4kv4_options();

}  // namespace fq::flat::test
