#include "lib/model/layer_hooks.h"

#include <ATen/ATen.h>

namespace fq::model {

at::Tensor LayerHooks::group_input(LinearGroup, const at::Tensor& x) { return x; }

at::Tensor LayerHooks::linear(LinearSite, const at::Tensor& x, const at::Tensor& weight) {
  return at::linear(x, weight);
}

at::Tensor LayerHooks::expert_linear(ExpertSite, const at::Tensor& x_sorted, const std::vector<int64_t>& counts,
                                     const at::Tensor& stacked_weight) {
  return grouped_linear(x_sorted, counts, stacked_weight);
}

at::Tensor grouped_linear(const at::Tensor& x_sorted, const std::vector<int64_t>& counts,
                          const at::Tensor& stacked_weight) {
  // split/unbind/cat keep the backward to one gradient buffer each (a narrow per expert would allocate a
  // full-size zero gradient per expert).
  const std::vector<at::Tensor> rows = x_sorted.split_with_sizes(counts);
  const std::vector<at::Tensor> weight = stacked_weight.unbind(0);
  std::vector<at::Tensor> outputs;
  for (size_t e = 0; e < counts.size(); ++e) {
    if (counts[e] > 0) outputs.push_back(at::linear(rows[e], weight[e].to(x_sorted.scalar_type())));
  }
  if (outputs.empty()) return x_sorted.new_zeros({0, stacked_weight.size(1)});
  return at::cat(outputs);
}

at::Tensor LayerHooks::attention_output(const at::Tensor& attn) { return attn.flatten(-2); }

}  // namespace fq::model
