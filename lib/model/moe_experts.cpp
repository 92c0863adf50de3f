#include "lib/model/moe_experts.h"

#include <ATen/ATen.h>

#include "lib/core/error.h"

namespace fq::model {
namespace {

// Tokens per chunk of the final weighted sum: bounds its float32 temporary ([chunk, top_k, hidden]).
constexpr int64_t kCombineChunkTokens = 4096;

}  // namespace

ExpertDispatch dispatch_by_expert(const Routing& routing, int64_t experts) {
  const int64_t top_k = routing.experts.size(1);
  at::Tensor slot_expert = routing.experts.reshape({-1});
  // Stable, so that each expert sees its tokens in ascending order, as the reference's loop does.
  at::Tensor order = std::get<1>(at::sort(slot_expert, /*stable=*/true, /*dim=*/0, /*descending=*/false));
  ExpertDispatch dispatch;
  dispatch.slot_order = order;
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
  const int64_t tokens = x.size(0), top_k = routing.experts.size(1);
  FQ_CHECK(x.dim() == 2 && tokens == routing.experts.size(0), "routed experts: input ", x.sizes(),
           " does not match routing of ", routing.experts.size(0), " tokens");
  FQ_CHECK(tokens > 0, "routed experts need at least one token");
  const ExpertDispatch dispatch = dispatch_by_expert(routing, experts);
  const std::vector<int64_t>& counts = dispatch.counts;

  at::Tensor x_sorted = x.index_select(0, dispatch.slot_token);
  at::Tensor gate = hooks.expert_linear(ExpertSite::kGate, x_sorted, counts, weights.gate);
  at::Tensor up = hooks.expert_linear(ExpertSite::kUp, x_sorted, counts, weights.up);
  at::Tensor down_in = hooks.expert_down_group_input(at::silu(gate) * up, counts);
  at::Tensor y_sorted = hooks.expert_linear(ExpertSite::kDown, down_in, counts, weights.down);

  // Back to (token, choice) order (unique indices: deterministic, no atomics), then each token's weighted
  // sum over its choices in float32, as HF accumulates the routed outputs.
  at::Tensor y = at::zeros_like(y_sorted).index_copy(0, dispatch.slot_order, y_sorted).view({tokens, top_k, -1});
  std::vector<at::Tensor> chunks;
  for (int64_t begin = 0; begin < tokens; begin += kCombineChunkTokens) {
    const int64_t n = std::min(kCombineChunkTokens, tokens - begin);
    chunks.push_back(
        (y.narrow(0, begin, n).to(at::kFloat) * routing.weights.narrow(0, begin, n).unsqueeze(-1)).sum(1));
  }
  return at::cat(chunks).to(x.scalar_type());
}

}  // namespace fq::model
