#include "lib/model/layer_hooks.h"

#include <ATen/ATen.h>

namespace fq::model {

at::Tensor LayerHooks::group_input(LinearGroup, const at::Tensor& x) { return x; }

at::Tensor LayerHooks::linear(LinearSite, const at::Tensor& x, const at::Tensor& weight) {
  return at::linear(x, weight);
}

at::Tensor LayerHooks::attention_output(const at::Tensor& attn) { return attn.flatten(-2); }

}  // namespace fq::model
