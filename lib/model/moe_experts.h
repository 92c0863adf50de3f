// DeepSeek V3's routed experts, computed grouped: token-slots are sorted by expert once, each projection
// runs as one grouped call over the contiguous rows of every expert (LayerHooks::expert_linear, with the
// stacked [E, out, in] weights), and the outputs return to (token, choice) order for the weighted sum.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lib/model/layer_hooks.h"
#include "lib/model/layer_weights.h"
#include "lib/model/moe_router.h"

namespace fq::model {

// The token-slots (token, choice) of a routing, sorted by expert; within an expert in token order.
struct ExpertDispatch {
  at::Tensor slot_order;         // [tokens * top_k] int64: the (token * top_k + choice) index of each slot
  at::Tensor slot_token;         // [tokens * top_k] int64: the token of each sorted slot
  at::Tensor slot_weight;        // [tokens * top_k] float32: its routing weight
  at::Tensor offsets;            // [E + 1] int64 on the CPU: expert e owns sorted rows offsets[e] .. offsets[e + 1]
  std::vector<int64_t> counts;  // [E]: offsets[e + 1] - offsets[e]
};

ExpertDispatch dispatch_by_expert(const Routing& routing, int64_t experts);

// x: [tokens, hidden], the MoE input already through group_input(kMoeIn). Returns
// sum_k weight_k * expert_k(x) as [tokens, hidden] in x's dtype (accumulated in float32 over each token's
// choices, deterministically). Hooks: expert_linear for gate, up and down on the sorted rows,
// expert_down_group_input on silu(gate) * up before the down projection. With a share of the experts
// (weights.expert_ids), only the choices of those experts are computed and summed: the share's part,
// which hooks.combine_routed_experts (enter_routed_experts before) completes across the group's ranks.
at::Tensor routed_experts(const at::Tensor& x, const Routing& routing, const MoeWeights& weights, LayerHooks& hooks);

}  // namespace fq::model
