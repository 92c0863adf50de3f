#include "tests/unit/model/reference_forward.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <ATen/ATen.h>

#include "lib/model/rope.h"

namespace fq::model::test {
namespace {

at::Tensor f64(const at::Tensor& t) { return t.to(at::kDouble); }

at::Tensor xwt(const at::Tensor& x, const at::Tensor& w) { return at::matmul(f64(x), f64(w).t()); }

at::Tensor ref_mlp(const at::Tensor& x, const GatedMlpWeights& w) {
  at::Tensor g = xwt(x, w.gate);
  return xwt(g / (1 + at::exp(-g)) * xwt(x, w.up), w.down);
}

}  // namespace

at::Tensor ref_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor x64 = f64(x);
  return x64 / at::sqrt(x64.pow(2).mean(-1, true) + eps) * f64(weight);
}

at::Tensor ref_rotate(const at::Tensor& x, const at::Tensor& inv_freq, double factor, bool interleaved) {
  at::Tensor out = f64(x).clone();
  const int64_t s = x.size(2), half = x.size(3) / 2;
  const at::Tensor in = f64(x);
  for (int64_t p = 0; p < s; ++p) {
    for (int64_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(p) * inv_freq[i].item<double>();
      const double c = std::cos(angle) * factor, sn = std::sin(angle) * factor;
      const int64_t a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
      at::Tensor xa = in.select(2, p).select(-1, a), xb = in.select(2, p).select(-1, b);
      out.select(2, p).select(-1, a).copy_(xa * c - xb * sn);
      out.select(2, p).select(-1, b).copy_(xb * c + xa * sn);
    }
  }
  return out;
}

at::Tensor ref_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
  const int64_t rep = q.size(1) / k.size(1), s = q.size(2);
  at::Tensor k_rep = f64(k).repeat_interleave(rep, 1), v_rep = f64(v).repeat_interleave(rep, 1);
  at::Tensor scores = at::matmul(f64(q), k_rep.transpose(-1, -2)) * scale;
  at::Tensor future = at::ones({s, s}, at::kBool).triu(1);
  scores = scores.masked_fill(future, -INFINITY);
  return at::matmul(at::softmax(scores, -1), v_rep);
}

RefRouting ref_route(const at::Tensor& x, const at::Tensor& router_weight, const at::Tensor& score_bias,
                     const io::ModelConfig& c) {
  const int64_t experts = c.n_routed_experts, per_group = experts / c.n_group;
  const at::Tensor scores = at::sigmoid(xwt(x, router_weight));
  const at::Tensor score_values = scores.detach().contiguous();
  const at::Tensor bias = f64(score_bias).contiguous();
  RefRouting r;
  std::vector<at::Tensor> weight_rows;
  for (int64_t t = 0; t < x.size(0); ++t) {
    std::vector<double> biased(experts);
    for (int64_t e = 0; e < experts; ++e) biased[e] = score_values[t][e].item<double>() + bias[e].item<double>();
    std::vector<std::pair<double, int64_t>> groups;
    for (int64_t g = 0; g < c.n_group; ++g) {
      std::vector<double> members(biased.begin() + g * per_group, biased.begin() + (g + 1) * per_group);
      std::sort(members.rbegin(), members.rend());
      groups.push_back({members[0] + members[1], g});
    }
    std::sort(groups.rbegin(), groups.rend());
    std::vector<double> choice(experts, 0.0);  // dropped groups score 0.0, as the reference does
    for (int64_t i = 0; i < c.topk_group; ++i) {
      const int64_t g = groups[i].second;
      for (int64_t e = g * per_group; e < (g + 1) * per_group; ++e) choice[e] = biased[e];
    }
    std::vector<int64_t> order(experts);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return choice[a] > choice[b]; });
    std::vector<int64_t> chosen(order.begin(), order.begin() + c.num_experts_per_tok);
    std::sort(chosen.begin(), chosen.end());
    at::Tensor w = scores[t].index_select(0, at::tensor(chosen, at::kLong));
    if (c.norm_topk_prob) w = w / (w.sum() + 1e-20);
    weight_rows.push_back(w * c.routed_scaling_factor);
    r.experts.push_back(chosen);
  }
  r.weights = at::stack(weight_rows);
  return r;
}

at::Tensor ref_routed_experts(const at::Tensor& x, const RefRouting& routing, const MoeWeights& w) {
  at::Tensor out = at::zeros({x.size(0), x.size(1)}, at::kDouble);
  for (int64_t t = 0; t < x.size(0); ++t) {
    at::Tensor xt = f64(x[t]).unsqueeze(0);
    for (size_t j = 0; j < routing.experts[t].size(); ++j) {
      const int64_t e = routing.experts[t][j];
      at::Tensor y = ref_mlp(xt, {w.gate[e], w.up[e], w.down[e]});
      out[t] += routing.weights[t][j] * y[0];
    }
  }
  return out;
}

at::Tensor ref_llama_layer(const io::ModelConfig& c, const LlamaLayerWeights& w, const at::Tensor& x) {
  const int64_t b = x.size(0), s = x.size(1), d = c.head_dim;
  const RotaryEmbedding rope = RotaryEmbedding::for_model(c);
  const at::Tensor inv_freq = f64(rope.inv_freq());
  at::Tensor a = ref_rms_norm(x, w.input_norm, c.rms_norm_eps);
  auto heads = [&](const at::Tensor& t) { return t.reshape({b, s, -1, d}).transpose(1, 2); };
  at::Tensor q = ref_rotate(heads(xwt(a, w.q)), inv_freq, 1.0, false);
  at::Tensor k = ref_rotate(heads(xwt(a, w.k)), inv_freq, 1.0, false);
  at::Tensor v = heads(xwt(a, w.v));
  at::Tensor attn = ref_causal_attention(q, k, v, 1.0 / std::sqrt(static_cast<double>(d)));
  at::Tensor h = f64(x) + xwt(attn.transpose(1, 2).reshape({b, s, -1}), w.o);
  return h + ref_mlp(ref_rms_norm(h, w.post_attention_norm, c.rms_norm_eps), w.mlp);
}

at::Tensor ref_deepseek_layer(const io::ModelConfig& c, const DeepseekLayerWeights& w, const at::Tensor& x) {
  const int64_t b = x.size(0), s = x.size(1), heads = c.num_attention_heads;
  const int64_t nope = c.qk_nope_head_dim, rd = c.qk_rope_head_dim, vd = c.v_head_dim, r = c.kv_lora_rank;
  const RotaryEmbedding rope = RotaryEmbedding::for_model(c);
  const at::Tensor inv_freq = f64(rope.inv_freq());
  const MlaWeights& m = w.attn;
  at::Tensor a = ref_rms_norm(x, w.input_norm, c.rms_norm_eps);
  at::Tensor q = c.q_lora_rank > 0 ? xwt(ref_rms_norm(xwt(a, m.q_a), m.q_a_norm, 1e-6), m.q_b) : xwt(a, m.q);
  q = q.reshape({b, s, heads, nope + rd}).transpose(1, 2);
  at::Tensor ckv = xwt(a, m.kv_a);
  at::Tensor kv = xwt(ref_rms_norm(ckv.narrow(-1, 0, r), m.kv_a_norm, 1e-6), m.kv_b)
                      .reshape({b, s, heads, nope + vd})
                      .transpose(1, 2);
  at::Tensor k_rope = ckv.narrow(-1, r, rd).reshape({b, 1, s, rd});
  // Rotating the interleaved pairs in place gives the same q.k products as HF's de-interleave-then-rotate.
  at::Tensor q_rot = ref_rotate(q.narrow(-1, nope, rd), inv_freq, rope.attention_factor(), c.rope_interleave);
  at::Tensor k_rot = ref_rotate(k_rope, inv_freq, rope.attention_factor(), c.rope_interleave).expand({b, heads, s, rd});
  at::Tensor q_full = at::cat({q.narrow(-1, 0, nope), q_rot}, -1);
  at::Tensor k_full = at::cat({kv.narrow(-1, 0, nope), k_rot}, -1);
  double scale = 1.0 / std::sqrt(static_cast<double>(nope + rd));
  const double mscale = 0.1 * c.rope.mscale_all_dim * std::log(c.rope.factor) + 1.0;
  scale *= mscale * mscale;
  at::Tensor attn = ref_causal_attention(q_full, k_full, kv.narrow(-1, nope, vd), scale);
  at::Tensor h = f64(x) + xwt(attn.transpose(1, 2).reshape({b, s, -1}), m.o);
  at::Tensor n = ref_rms_norm(h, w.post_attention_norm, c.rms_norm_eps);
  if (w.dense) return h + ref_mlp(n, *w.dense);
  at::Tensor flat = n.reshape({b * s, -1});
  const RefRouting routing = ref_route(flat, w.moe->router, w.moe->score_bias, c);
  at::Tensor moe = ref_routed_experts(flat, routing, *w.moe) + ref_mlp(flat, *w.moe->shared);
  return h + moe.reshape({b, s, -1});
}

}  // namespace fq::model::test
