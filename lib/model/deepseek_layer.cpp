#include "lib/model/deepseek_layer.h"

#include <ATen/ATen.h>

#include "lib/core/error.h"
#include "lib/model/gated_mlp.h"
#include "lib/model/layer_input.h"
#include "lib/model/moe_experts.h"
#include "lib/model/moe_router.h"
#include "lib/model/rms_norm.h"

namespace fq::model {
namespace {

// The reference builds q_a_layernorm and kv_a_layernorm without passing rms_norm_eps, so they keep the
// RMSNorm default whatever the config says.
constexpr double kLatentNormEps = 1e-6;

}  // namespace

at::Tensor mla_attention(const io::ModelConfig& config, const MlaWeights& weights, const at::Tensor& attn_in,
                         const RopeTables& rope, LayerHooks& hooks, const PrefixKvUse& prefix) {
  const int64_t b = attn_in.size(0), s = attn_in.size(1), heads = config.num_attention_heads;
  const int64_t nope = config.qk_nope_head_dim, rope_dim = config.qk_rope_head_dim, v_dim = config.v_head_dim;
  const int64_t latent = config.kv_lora_rank;

  at::Tensor q;
  if (config.q_lora_rank > 0) {
    at::Tensor q_latent =
        rms_norm(hooks.linear(LinearSite::kQA, attn_in, weights.q_a), weights.q_a_norm, kLatentNormEps);
    q = hooks.linear(LinearSite::kQB, hooks.group_input(LinearGroup::kQbIn, q_latent), weights.q_b);
  } else {
    q = hooks.linear(LinearSite::kQ, attn_in, weights.q);
  }
  q = q.reshape({b, s, heads, nope + rope_dim}).transpose(1, 2);  // [b, H, s, qk_head_dim]
  at::Tensor q_nope = q.narrow(-1, 0, nope), q_rope = q.narrow(-1, nope, rope_dim);

  at::Tensor compressed = hooks.linear(LinearSite::kKVA, attn_in, weights.kv_a);  // [b, s, latent + rope_dim]
  at::Tensor kv_latent = rms_norm(compressed.narrow(-1, 0, latent), weights.kv_a_norm, kLatentNormEps);
  at::Tensor kv = hooks.linear(LinearSite::kKVB, kv_latent, weights.kv_b)
                      .reshape({b, s, heads, nope + v_dim})
                      .transpose(1, 2);  // [b, H, s, nope + v_dim]
  at::Tensor k_nope = kv.narrow(-1, 0, nope), v = kv.narrow(-1, nope, v_dim);
  at::Tensor k_rope = compressed.narrow(-1, latent, rope_dim).reshape({b, 1, s, rope_dim});

  if (config.rope_interleave) {
    q_rope = deinterleave_pairs(q_rope);
    k_rope = deinterleave_pairs(k_rope);
  }
  const RopeTables own = rope.positions(prefix.past_tokens(), s);
  q_rope = apply_rotary(q_rope, own);
  k_rope = apply_rotary(k_rope, own).expand({b, heads, s, rope_dim});
  at::Tensor attn = layer_attention(at::cat({q_nope, q_rope}, -1), at::cat({k_nope, k_rope}, -1), v,
                                    attention_softmax_scale(config), prefix);  // [b, H, s, v_dim]
  at::Tensor o_in = hooks.group_input(LinearGroup::kOIn, attn.transpose(1, 2).reshape({b, s, heads * v_dim}));
  return hooks.linear(LinearSite::kO, o_in, weights.o);
}

at::Tensor deepseek_moe(const io::ModelConfig& config, const MoeWeights& weights, const at::Tensor& hidden,
                        LayerHooks& hooks) {
  const int64_t width = hidden.size(-1);
  const Routing routing = route_tokens(hidden.reshape({-1, width}), weights.router, weights.score_bias, config);
  at::Tensor moe_in = hooks.group_input(LinearGroup::kMoeIn, hidden);
  at::Tensor out = routed_experts(moe_in.reshape({-1, moe_in.size(-1)}), routing, weights, hooks).view(hidden.sizes());
  if (weights.shared) out = out + gated_mlp(moe_in, *weights.shared, kSharedExpertSites, hooks);
  return out;
}

at::Tensor deepseek_layer_forward(const io::ModelConfig& config, const DeepseekLayerWeights& weights,
                                  const at::Tensor& x, const RopeTables& rope, LayerHooks& hooks,
                                  const PrefixKvUse& prefix) {
  check_layer_input(x, weights.input_norm, rope, config.hidden_size, config.qk_rope_head_dim, prefix.past_tokens());
  FQ_CHECK(weights.dense.has_value() != weights.moe.has_value(),
           "a DeepSeek layer needs exactly one of a dense MLP and an MoE block");
  at::Tensor attn_in = hooks.group_input(LinearGroup::kAttnIn, rms_norm(x, weights.input_norm, config.rms_norm_eps));
  at::Tensor h = x + mla_attention(config, weights.attn, attn_in, rope, hooks, prefix);
  at::Tensor normed = rms_norm(h, weights.post_attention_norm, config.rms_norm_eps);
  if (weights.dense)
    return h + gated_mlp(hooks.group_input(LinearGroup::kMlpIn, normed), *weights.dense, kDenseMlpSites, hooks);
  return h + deepseek_moe(config, *weights.moe, normed, hooks);
}

}  // namespace fq::model
