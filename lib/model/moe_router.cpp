#include "lib/model/moe_router.h"

#include <ATen/ATen.h>

#include "lib/core/error.h"

namespace fq::model {

Routing route_tokens(const at::Tensor& x, const at::Tensor& router_weight, const at::Tensor& score_bias,
                     const io::ModelConfig& config) {
  const int64_t experts = config.n_routed_experts, groups = config.n_group;
  FQ_CHECK(x.dim() == 2 && router_weight.dim() == 2 && x.size(1) == router_weight.size(1), "router input ", x.sizes(),
           " does not match router weight ", router_weight.sizes());
  FQ_CHECK(router_weight.size(0) == experts && score_bias.numel() == experts, "router weight ", router_weight.sizes(),
           " and e_score_correction_bias ", score_bias.sizes(), " must have n_routed_experts=", experts, " rows");
  FQ_CHECK(groups > 0 && experts % groups == 0 && experts / groups >= 2, "n_group=", groups,
           " must divide n_routed_experts=", experts, " into groups of at least 2");
  FQ_CHECK(config.topk_group > 0 && config.topk_group <= groups, "topk_group=", config.topk_group,
           " must be in [1, n_group=", groups, "]");
  FQ_CHECK(config.num_experts_per_tok > 0 && config.num_experts_per_tok <= experts,
           "num_experts_per_tok=", config.num_experts_per_tok, " must be in [1, n_routed_experts=", experts, "]");
  const int64_t tokens = x.size(0);

  at::Tensor scores = at::sigmoid(at::linear(x.to(at::kFloat), router_weight.to(at::kFloat)));
  at::Tensor expert_ids;
  {
    at::NoGradGuard no_grad;  // the selection is discrete
    at::Tensor biased = scores.detach() + score_bias.to(at::kFloat).unsqueeze(0);
    at::Tensor group_scores =
        std::get<0>(biased.view({tokens, groups, experts / groups}).topk(2, -1)).sum(-1);  // [tokens, groups]
    at::Tensor kept_groups = std::get<1>(group_scores.topk(config.topk_group, -1, true, /*sorted=*/false));
    at::Tensor group_kept = at::zeros_like(group_scores, at::kBool).scatter_(1, kept_groups, true);
    at::Tensor expert_kept =
        group_kept.unsqueeze(-1).expand({tokens, groups, experts / groups}).reshape({tokens, experts});
    at::Tensor choice = biased.masked_fill(expert_kept.logical_not(), 0.0);
    expert_ids = std::get<1>(choice.topk(config.num_experts_per_tok, -1, true, /*sorted=*/false));
  }
  at::Tensor weights = scores.gather(1, expert_ids);
  if (config.norm_topk_prob) weights = weights / (weights.sum(-1, /*keepdim=*/true) + 1e-20);
  return {expert_ids, weights * config.routed_scaling_factor};
}

}  // namespace fq::model
