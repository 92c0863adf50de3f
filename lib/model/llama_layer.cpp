#include "lib/model/llama_layer.h"

#include <ATen/ATen.h>

#include "lib/core/error.h"
#include "lib/model/gated_mlp.h"
#include "lib/model/layer_input.h"
#include "lib/model/rms_norm.h"

namespace fq::model {

at::Tensor llama_layer_forward(const io::ModelConfig& config, const LlamaLayerWeights& weights, const at::Tensor& x,
                               const RopeTables& rope, LayerHooks& hooks, const PrefixKvUse& prefix) {
  check_layer_input(x, weights.input_norm, rope, config.hidden_size, config.head_dim, prefix.past_tokens());
  const int64_t b = x.size(0), s = x.size(1), d = config.head_dim;
  const RopeTables own = rope.positions(prefix.past_tokens(), s);

  at::Tensor attn_in = hooks.group_input(LinearGroup::kAttnIn, rms_norm(x, weights.input_norm, config.rms_norm_eps));
  // [b, s, heads * d] -> [b, heads, s, d]
  auto heads = [&](const at::Tensor& t) { return t.reshape({b, s, -1, d}).transpose(1, 2); };
  at::Tensor q = apply_rotary(heads(hooks.linear(LinearSite::kQ, attn_in, weights.q)), own);
  at::Tensor k = apply_rotary(heads(hooks.linear(LinearSite::kK, attn_in, weights.k)), own);
  at::Tensor v = heads(hooks.linear(LinearSite::kV, attn_in, weights.v));
  hooks.query_key(q, k);
  v = hooks.value_cache(v);
  at::Tensor attn = layer_attention(q, k, v, attention_softmax_scale(config), prefix).transpose(1, 2);  // [b, s, H, d]
  at::Tensor h = x + hooks.linear(LinearSite::kO, hooks.attention_output(attn), weights.o);

  at::Tensor mlp_in =
      hooks.group_input(LinearGroup::kMlpIn, rms_norm(h, weights.post_attention_norm, config.rms_norm_eps));
  return h + gated_mlp(mlp_in, weights.mlp, kDenseMlpSites, hooks);
}

}  // namespace fq::model
