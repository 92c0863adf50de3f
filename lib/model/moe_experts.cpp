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

at::Tensor routed_experts(const at::Tensor& x_in, const Routing& routing, const MoeWeights& weights, LayerHooks& hooks) {
  const int64_t held = weights.gate.size(0);  // stacked experts: all E, or this rank's share
  const int64_t tokens = x_in.size(0), top_k = routing.experts.size(1);
  FQ_CHECK(x_in.dim() == 2 && tokens == routing.experts.size(0), "routed experts: input ", x_in.sizes(),
           " does not match routing of ", routing.experts.size(0), " tokens");
  FQ_CHECK(tokens > 0, "routed experts need at least one token");
  FQ_CHECK(weights.expert_ids.empty() || static_cast<int64_t>(weights.expert_ids.size()) == held,
           "routed experts: ", weights.expert_ids.size(), " expert ids for ", held, " stacked experts");
  at::Tensor x = x_in, routing_weights = routing.weights;
  hooks.enter_routed_experts(x, routing_weights);
  // Slots go to buckets: the held experts' local indices, and (with a share) one last bucket for the
  // choices of experts held elsewhere, which sorts after every held row and is never computed.
  Routing buckets{routing.experts, routing_weights};
  int64_t bucket_count = held;
  if (!weights.expert_ids.empty()) {
    const int64_t all = weights.router.size(0);
    at::Tensor local_of_global = at::full({all}, held, routing.experts.options());
    const at::Tensor ids = at::tensor(weights.expert_ids, at::kLong).to(routing.experts.device());
    local_of_global.index_put_({ids}, at::arange(held, routing.experts.options()));
    buckets.experts = local_of_global.index_select(0, routing.experts.reshape({-1})).view_as(routing.experts);
    bucket_count = held + 1;
  }
  ExpertDispatch dispatch = dispatch_by_expert(buckets, bucket_count);
  std::vector<int64_t> counts = dispatch.counts;
  counts.resize(held);
  const int64_t rows = dispatch.offsets[held].item<int64_t>();

  at::Tensor x_sorted = x.index_select(0, dispatch.slot_token.narrow(0, 0, rows));
  at::Tensor gate = hooks.expert_linear(ExpertSite::kGate, x_sorted, counts, weights.gate);
  at::Tensor up = hooks.expert_linear(ExpertSite::kUp, x_sorted, counts, weights.up);
  at::Tensor down_in = hooks.expert_down_group_input(at::silu(gate) * up, counts);
  at::Tensor y_sorted = hooks.expert_linear(ExpertSite::kDown, down_in, counts, weights.down);

  // Back to (token, choice) order (unique indices: deterministic, no atomics), then each token's weighted
  // sum over its choices in float32, as HF accumulates the routed outputs.
  at::Tensor y = at::zeros({tokens * top_k, y_sorted.size(1)}, y_sorted.options())
                     .index_copy(0, dispatch.slot_order.narrow(0, 0, rows), y_sorted)
                     .view({tokens, top_k, -1});
  std::vector<at::Tensor> chunks;
  for (int64_t begin = 0; begin < tokens; begin += kCombineChunkTokens) {
    const int64_t n = std::min(kCombineChunkTokens, tokens - begin);
    chunks.push_back(
        (y.narrow(0, begin, n).to(at::kFloat) * routing_weights.narrow(0, begin, n).unsqueeze(-1)).sum(1));
  }
  return hooks.combine_routed_experts(at::cat(chunks)).to(x.scalar_type());
}

}  // namespace fq::model
