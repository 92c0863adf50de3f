#include "lib/flat/layer_statistics.h"

#include <ATen/ATen.h>

namespace fq::flat {

using model::LinearGroup;

namespace {

constexpr double kStatFloor = 1e-5;

at::Tensor channel_absmax(const at::Tensor& x) {
  return x.detach().reshape({-1, x.size(-1)}).abs().amax(0).to(at::kFloat);
}

void running_max(at::Tensor& slot, const at::Tensor& value) {
  slot = slot.defined() ? at::maximum(slot, value) : at::maximum(value, at::full_like(value, kStatFloor));
}

// max over the rows of several weights [out_i, in] -> [in]
at::Tensor columns(std::initializer_list<at::Tensor> weights) {
  at::Tensor out;
  for (const auto& w : weights) {
    if (!w.defined()) continue;
    at::Tensor m = w.detach().abs().reshape({-1, w.size(-1)}).amax(0).to(at::kFloat);
    out = out.defined() ? at::maximum(out, m) : m;
  }
  return out;
}

}  // namespace

at::Tensor ActivationStatistics::group_input(LinearGroup group, const at::Tensor& x) {
  running_max(groups_[group], channel_absmax(x));
  return x;
}

at::Tensor ActivationStatistics::expert_down_group_input(const at::Tensor& a_sorted,
                                                         const std::vector<int64_t>& counts) {
  const int64_t experts = static_cast<int64_t>(counts.size());
  at::Tensor per_expert = at::full({experts, a_sorted.size(-1)}, kStatFloor, a_sorted.options().dtype(at::kFloat));
  const std::vector<at::Tensor> rows = a_sorted.detach().split_with_sizes(counts);
  for (int64_t e = 0; e < experts; ++e) {
    if (counts[e] > 0) per_expert[e] = at::maximum(per_expert[e], channel_absmax(rows[e]));
  }
  running_max(routed_down_, per_expert);
  return a_sorted;
}

std::map<LinearGroup, at::Tensor> weight_column_absmax(const model::LayerWeights& weights) {
  std::map<LinearGroup, at::Tensor> out;
  if (const auto* w = std::get_if<model::LlamaLayerWeights>(&weights)) {
    out[LinearGroup::kAttnIn] = columns({w->q, w->k, w->v});
    out[LinearGroup::kMlpIn] = columns({w->mlp.gate, w->mlp.up});
    out[LinearGroup::kDownIn] = columns({w->mlp.down});
    return out;
  }
  const auto& w = std::get<model::DeepseekLayerWeights>(weights);
  out[LinearGroup::kAttnIn] = columns({w.attn.q_a, w.attn.q, w.attn.kv_a});
  if (w.attn.q_b.defined()) out[LinearGroup::kQbIn] = columns({w.attn.q_b});
  out[LinearGroup::kOIn] = columns({w.attn.o});
  if (w.dense) {
    out[LinearGroup::kMlpIn] = columns({w.dense->gate, w.dense->up});
    out[LinearGroup::kDownIn] = columns({w.dense->down});
  } else {
    const auto& moe = *w.moe;
    at::Tensor in = columns({moe.gate, moe.up});
    if (moe.shared) {
      in = at::maximum(in, columns({moe.shared->gate, moe.shared->up}));
      out[LinearGroup::kSharedDownIn] = columns({moe.shared->down});
    }
    out[LinearGroup::kMoeIn] = in;
  }
  return out;
}

at::Tensor routed_down_weight_absmax(const model::LayerWeights& weights) {
  const auto* w = std::get_if<model::DeepseekLayerWeights>(&weights);
  if (!w || !w->moe) return {};
  return w->moe->down.detach().abs().amax(1).to(at::kFloat);  // [E, hidden, mi] -> [E, mi]
}

}  // namespace fq::flat
