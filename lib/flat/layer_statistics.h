// Per-channel statistics for the SmoothQuant-style diag initialisation (ALGORITHM.md): max |x| of each
// group's input over the layer's calibration tokens, and max |W| over the output rows of the group's
// linears, per input column.
#pragma once

#include <map>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lib/model/layer_hooks.h"
#include "lib/model/layer_weights.h"

namespace fq::flat {

// Full-precision hooks that record the running max |x| per channel at every group input (and, per
// expert, at the routed down input). Initial values 1e-5, as the reference's.
class ActivationStatistics : public model::LayerHooks {
 public:
  at::Tensor group_input(model::LinearGroup group, const at::Tensor& x) override;
  at::Tensor expert_down_group_input(const at::Tensor& a_sorted, const std::vector<int64_t>& counts) override;

  const std::map<model::LinearGroup, at::Tensor>& group_absmax() const { return groups_; }
  // [E, moe_intermediate] (experts that saw no token keep 1e-5); undefined for non-MoE layers.
  const at::Tensor& routed_down_absmax() const { return routed_down_; }

 private:
  std::map<model::LinearGroup, at::Tensor> groups_;
  at::Tensor routed_down_;
};

// max |W| per input column over every linear of each group, and [E, n] for the routed down projections.
std::map<model::LinearGroup, at::Tensor> weight_column_absmax(const model::LayerWeights& weights);
at::Tensor routed_down_weight_absmax(const model::LayerWeights& weights);

}  // namespace fq::flat
