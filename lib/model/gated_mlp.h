// The gated SiLU MLP shared by LLaMA, DeepSeek's dense layers and DeepSeek's shared experts.
#pragma once

#include <ATen/core/Tensor.h>

#include "lib/model/layer_hooks.h"
#include "lib/model/layer_weights.h"

namespace fq::model {

// Which hook sites an MLP reports to: its input group is applied by the caller (the dense MLP's kMlpIn,
// or kMoeIn shared with the routed experts); the down projection's input group is applied here.
struct MlpSites {
  LinearSite gate;
  LinearSite up;
  LinearGroup down_input;
  LinearSite down;
};
inline constexpr MlpSites kDenseMlpSites{LinearSite::kGate, LinearSite::kUp, LinearGroup::kDownIn, LinearSite::kDown};
inline constexpr MlpSites kSharedExpertSites{LinearSite::kSharedGate, LinearSite::kSharedUp, LinearGroup::kSharedDownIn,
                                             LinearSite::kSharedDown};

// x: [..., hidden], already through its input group. Returns down(group_input(silu(gate(x)) * up(x))).
at::Tensor gated_mlp(const at::Tensor& x, const GatedMlpWeights& weights, const MlpSites& sites, LayerHooks& hooks);

}  // namespace fq::model
