#include "lib/model/gated_mlp.h"

#include <ATen/ATen.h>

namespace fq::model {

at::Tensor gated_mlp(const at::Tensor& x, const GatedMlpWeights& weights, const MlpSites& sites, LayerHooks& hooks) {
  at::Tensor gate = hooks.linear(sites.gate, x, weights.gate);
  at::Tensor up = hooks.linear(sites.up, x, weights.up);
  at::Tensor down_in = hooks.group_input(sites.down_input, at::silu(gate) * up);
  return hooks.linear(sites.down, down_in, weights.down);
}

}  // namespace fq::model
