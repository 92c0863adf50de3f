#include "lib/model/moe_experts.h"

#include <ATen/ATen.h>

#include "lib/core/error.h"

namespace fq::model {
namespace {

// One GEMM per expert that has rows. split_with_sizes / unbind / cat keep the backward pass to one
// gradient buffer each (a narrow or select per expert would allocate a full-size zero tensor per expert).
at::Tensor grouped_linear(const at::Tensor& x_sorted, const at::Tensor& stacked_weight,
                          const std::vector<int64_t>& counts) {
  const std::vector<at::Tensor> rows = x_sorted.split_with_sizes(counts);
  const std::vector<at::Tensor> weight = stacked_weight.unbind(0);
  std::vector<at::Tensor> outputs;
  for (size_t e = 0; e < counts.size(); ++e) {
    if (counts[e] > 0) outputs.push_back(at::linear(rows[e], weight[e]));
  }
  return at::cat(outputs);
}

}  // namespace

ExpertDispatch dispatch_by_expert(const Routing& routing, int64_t experts) {
  const int64_t top_k = routing.experts.size(1);
  at::Tensor slot_expert = routing.experts.reshape({-1});
  // Stable, so that each expert sees its tokens in ascending order, as the reference's loop does.
  at::Tensor order = std::get<1>(at::sort(slot_expert, /*stable=*/true, /*dim=*/0, /*descending=*/false));
  ExpertDispatch dispatch;
  dispatch.slot_token = at::div(order, top_k, "floor");
  dispatch.slot_weight = routing.weights.reshape({-1}).index_select(0, order);
  at::Tensor counts = at::bincount(slot_expert, {}, experts).to(at::kCPU, at::kLong);
  FQ_CHECK(counts.numel() == experts, "routing names an expert id >= n_routed_experts=", experts);
  dispatch.counts.assign(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + experts);
  dispatch.offsets = at::zeros({experts + 1}, at::kLong);
  dispatch.offsets.narrow(0, 1, experts).copy_(counts.cumsum(0));
  return dispatch;
}

at::Tensor routed_experts(const at::Tensor& x, const Routing& routing, const MoeWeights& weights, LayerHooks& hooks) {
  const int64_t experts = weights.gate.size(0);
  FQ_CHECK(x.dim() == 2 && x.size(0) == routing.experts.size(0), "routed experts: input ", x.sizes(),
           " does not match routing of ", routing.experts.size(0), " tokens");
  FQ_CHECK(x.size(0) > 0, "routed experts need at least one token");
  const ExpertDispatch dispatch = dispatch_by_expert(routing, experts);
  const at::Tensor& offsets = dispatch.offsets;

  at::Tensor x_sorted = x.index_select(0, dispatch.slot_token);
  at::Tensor gate_w = hooks.expert_weights(ExpertSite::kGate, weights.gate);
  at::Tensor up_w = hooks.expert_weights(ExpertSite::kUp, weights.up);
  at::Tensor down_w = hooks.expert_weights(ExpertSite::kDown, weights.down);

  at::Tensor gate = grouped_linear(hooks.expert_input(ExpertSite::kGate, x_sorted, offsets), gate_w, dispatch.counts);
  at::Tensor up = grouped_linear(hooks.expert_input(ExpertSite::kUp, x_sorted, offsets), up_w, dispatch.counts);
  at::Tensor down_in = hooks.expert_down_group_input(at::silu(gate) * up, offsets);
  down_in = hooks.expert_input(ExpertSite::kDown, down_in, offsets);

  // Down projection and weighted scatter per expert, so the [slots, hidden] outputs never exist at once.
  // A token picks an expert at most once, so each index_add_ has unique indices (deterministic on CUDA).
  const std::vector<at::Tensor> rows = down_in.split_with_sizes(dispatch.counts);
  const std::vector<at::Tensor> tokens = dispatch.slot_token.split_with_sizes(dispatch.counts);
  const std::vector<at::Tensor> slot_weights = dispatch.slot_weight.split_with_sizes(dispatch.counts);
  const std::vector<at::Tensor> down = down_w.unbind(0);
  at::Tensor out = at::zeros({x.size(0), down_w.size(1)}, x.options().dtype(at::kFloat));
  for (int64_t e = 0; e < experts; ++e) {
    if (dispatch.counts[e] == 0) continue;
    at::Tensor y = at::linear(rows[e], down[e]);
    out.index_add_(0, tokens[e], y.to(at::kFloat) * slot_weights[e].unsqueeze(1));
  }
  return out.to(x.scalar_type());
}

}  // namespace fq::model
