// The two autograd boundaries of expert parallelism (the "f" and "g" of Megatron-style tensor
// parallelism). Every member computes the same layer except the routed experts, of which it holds a
// share; so:
//   - group_entry: identity forward; backward sums the gradients over the group. Applied to everything
//     entering the share's computation that is computed identically on every member (the MoE input, the
//     routing weights, the MoE-input transform): the sum of the shares' gradients is the full gradient.
//   - group_combine: the group's sum forward; identity backward (every member's loss is the same).
// Each is ONE autograd node per forward, so each backward makes exactly one collective in an order that
// does not depend on the data (the members' graphs differ inside the share); `tied` (group_entry's
// outputs) keeps the entry node on the path to the loss even when a member's share saw no token.
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

#include "lib/flat/expert_group.h"

namespace fq::flat {

// `group` must outlive the backward pass.
std::vector<at::Tensor> group_entry(const ExpertGroup& group, const std::vector<at::Tensor>& inputs);
at::Tensor group_combine(const ExpertGroup& group, const at::Tensor& share, const std::vector<at::Tensor>& tied);

}  // namespace fq::flat
