#include "lib/model/attention.h"

#include <algorithm>
#include <limits>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/version.h>

#include "lib/core/error.h"

#define FQ_TORCH_HAS_SDPA (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1))

namespace fq::model {
namespace {

void check_shapes(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  FQ_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention expects 4-D q, k, v [b, heads, s, d], got ",
           q.sizes(), ", ", k.sizes(), ", ", v.sizes());
  FQ_CHECK(k.size(0) == q.size(0) && v.size(0) == q.size(0) && k.size(2) == q.size(2) && v.size(2) == q.size(2),
           "attention q, k, v disagree on batch or sequence: ", q.sizes(), ", ", k.sizes(), ", ", v.sizes());
  FQ_CHECK(k.size(1) == v.size(1) && k.size(1) > 0 && q.size(1) % k.size(1) == 0,
           "attention needs the query heads to be a multiple of the KV heads: ", q.sizes(), ", ", k.sizes(), ", ",
           v.sizes());
  FQ_CHECK(k.size(3) == q.size(3), "attention q and k head sizes differ: ", q.sizes(), ", ", k.sizes());
  FQ_CHECK(k.scalar_type() == q.scalar_type() && v.scalar_type() == q.scalar_type(), "attention q, k, v dtypes differ");
}

// True where key j is in the future of query i0 + i, for each of `rep` stacked copies of the rows:
// [rep * rows, keys].
at::Tensor future_mask(int64_t i0, int64_t rows, int64_t rep, int64_t keys, const at::Device& device) {
  at::Tensor query_pos = at::arange(i0, i0 + rows, at::TensorOptions().dtype(at::kLong).device(device));
  at::Tensor key_pos = at::arange(keys, at::TensorOptions().dtype(at::kLong).device(device));
  return (key_pos.unsqueeze(0) > query_pos.unsqueeze(1)).repeat({rep, 1});
}

// The queries of one chunk, [b, Hkv, rep * rows, d]: the rep query heads that share a KV head are stacked
// along the rows, so one batched GEMM per KV head serves them all without repeating K or V.
at::Tensor chunk_queries(const at::Tensor& q_grouped, int64_t i0, int64_t rows) {
  at::Tensor q = q_grouped.narrow(3, i0, rows);
  return q.reshape({q.size(0), q.size(1), q.size(2) * rows, q.size(4)});
}

// Float32 scores of one chunk against the keys it sees, masked, as the reference makes them: the product
// and the scaling in the compute dtype, then float32. q_rows: [b, Hkv, rep * rows, d], k_seen: [b, Hkv, keys, d].
at::Tensor chunk_scores(const at::Tensor& q_rows, const at::Tensor& k_seen, double scale, int64_t i0, int64_t rows) {
  at::Tensor scores = (at::matmul(q_rows, k_seen.transpose(-1, -2)) * scale).to(at::kFloat);
  const int64_t rep = q_rows.size(2) / rows;
  return scores.masked_fill(future_mask(i0, rows, rep, k_seen.size(2), q_rows.device()),
                            -std::numeric_limits<float>::infinity());
}

// Query rows per chunk so that [b, H, rows, keys] stays within the budget.
int64_t chunk_rows_for(const at::Tensor& q, int64_t keys, int64_t max_score_elements) {
  const int64_t per_row = q.size(0) * q.size(1) * keys;
  return std::clamp<int64_t>(max_score_elements / std::max<int64_t>(per_row, 1), 1, q.size(2));
}

// x [b, Hkv, rows, n] times m [1, Hkv, n, c] that every sequence shares -> [b, Hkv, rows, c]: one GEMM per KV
// head over all b * rows rows. at::matmul would broadcast m to the batch, copying it once per sequence.
at::Tensor times_shared(const at::Tensor& x, const at::Tensor& m) {
  const int64_t b = x.size(0), groups = x.size(1), rows = x.size(2);
  const at::Tensor stacked = x.permute({1, 0, 2, 3}).reshape({groups, b * rows, x.size(3)});
  return at::matmul(stacked, m[0]).view({groups, b, rows, m.size(3)}).permute({1, 0, 2, 3});
}

// q [b, H, s, d] -> [b, Hkv, rep, s, d] (query head h = g * rep + r reads KV head g, as repeat_kv does).
at::Tensor group_queries(const at::Tensor& q, int64_t kv_heads) {
  return q.reshape({q.size(0), kv_heads, q.size(1) / kv_heads, q.size(2), q.size(3)});
}

// The forward pass, chunk by chunk. Writes each row's float32 log-sum-exp into `lse` ([b, Hkv, rep, s])
// when given, for the backward pass. With `past` keys/values ([1, Hkv, P, d], shared by the batch), every
// query also sees those P keys, ahead of its own: the scores against them come first in each row, as in
// the whole sequence.
at::Tensor chunked_forward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                           int64_t chunk_rows, at::Tensor* lse, const at::Tensor& past_k = {},
                           const at::Tensor& past_v = {}) {
  const int64_t kv_heads = k.size(1), s = q.size(2), past = past_k.defined() ? past_k.size(2) : 0;
  at::Tensor qg = group_queries(q, kv_heads);
  at::Tensor out = at::empty({qg.size(0), kv_heads, qg.size(2), s, v.size(3)}, v.options());
  for (int64_t i0 = 0; i0 < s; i0 += chunk_rows) {
    const int64_t rows = std::min(chunk_rows, s - i0), keys = i0 + rows;
    const at::Tensor q_rows = chunk_queries(qg, i0, rows);
    at::Tensor scores = chunk_scores(q_rows, k.narrow(2, 0, keys), scale, i0, rows);
    if (past > 0) {
      scores = at::cat({(times_shared(q_rows, past_k.transpose(-1, -2)) * scale).to(at::kFloat), scores}, -1);
    }
    if (lse) lse->narrow(3, i0, rows).copy_(at::logsumexp(scores, -1).view({qg.size(0), kv_heads, -1, rows}));
    const at::Tensor probs = at::softmax(scores, -1).to(v.scalar_type());
    at::Tensor chunk_out = at::matmul(probs.narrow(-1, past, keys), v.narrow(2, 0, keys));
    if (past > 0) {
      // Summed in at least float32, then one rounding to the compute dtype, as the one product over
      // [past; own] of a whole sequence has (bf16 would otherwise round twice).
      const c10::ScalarType sum_dtype = v.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
      chunk_out = (chunk_out.to(sum_dtype) + times_shared(probs.narrow(-1, 0, past), past_v).to(sum_dtype))
                      .to(v.scalar_type());
    }
    out.narrow(3, i0, rows).copy_(chunk_out.view({qg.size(0), kv_heads, -1, rows, v.size(3)}));
  }
  return out.view({q.size(0), q.size(1), s, v.size(3)});
}

class ChunkedCausalAttention : public torch::autograd::Function<ChunkedCausalAttention> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor q, at::Tensor k, at::Tensor v,
                            double scale, int64_t chunk_rows) {
    at::Tensor lse = at::empty({q.size(0), k.size(1), q.size(1) / k.size(1), q.size(2)}, q.options().dtype(at::kFloat));
    at::Tensor out = chunked_forward(q, k, v, scale, chunk_rows, &lse);
    ctx->save_for_backward({q, k, v, lse});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["chunk_rows"] = chunk_rows;
    return out;
  }

  // Flash-attention style: per chunk, P = exp(S - lse); dV += P^T dO; dS = P * (dO V^T - rowsum(P * dO V^T));
  // dQ = dS K * scale; dK += dS^T Q * scale. Accumulated in float32.
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &lse = saved[3];
    const double scale = ctx->saved_data["scale"].toDouble();
    const int64_t chunk_rows = ctx->saved_data["chunk_rows"].toInt();
    const int64_t kv_heads = k.size(1), s = q.size(2);
    at::Tensor qg = group_queries(q, kv_heads);
    at::Tensor grad_out = group_queries(grad_outputs[0].to(at::kFloat), kv_heads);
    at::Tensor dq = at::empty(qg.sizes(), q.options().dtype(at::kFloat));
    at::Tensor dk = at::zeros(k.sizes(), k.options().dtype(at::kFloat));
    at::Tensor dv = at::zeros(v.sizes(), v.options().dtype(at::kFloat));
    for (int64_t i0 = 0; i0 < s; i0 += chunk_rows) {
      const int64_t rows = std::min(chunk_rows, s - i0), keys = i0 + rows;
      at::Tensor q_rows = chunk_queries(qg, i0, rows);
      at::Tensor k_seen = k.narrow(2, 0, keys);
      at::Tensor row_lse = chunk_queries(lse.unsqueeze(-1), i0, rows);  // [b, Hkv, rep * rows, 1]
      at::Tensor probs = at::exp(chunk_scores(q_rows, k_seen, scale, i0, rows) - row_lse);
      at::Tensor d_out = chunk_queries(grad_out, i0, rows);
      dv.narrow(2, 0, keys).add_(at::matmul(probs.transpose(-1, -2), d_out));
      at::Tensor d_probs = at::matmul(d_out, v.narrow(2, 0, keys).to(at::kFloat).transpose(-1, -2));
      at::Tensor d_scores = probs * (d_probs - (probs * d_probs).sum(-1, /*keepdim=*/true)) * scale;
      dq.narrow(3, i0, rows)
          .copy_(at::matmul(d_scores, k_seen.to(at::kFloat)).view({qg.size(0), kv_heads, -1, rows, q.size(3)}));
      dk.narrow(2, 0, keys).add_(at::matmul(d_scores.transpose(-1, -2), q_rows.to(at::kFloat)));
    }
    return {dq.view(q.sizes()).to(q.scalar_type()), dk.to(k.scalar_type()), dv.to(v.scalar_type()), at::Tensor(),
            at::Tensor()};
  }
};

}  // namespace

at::Tensor causal_attention_chunked(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                                    int64_t max_score_elements) {
  check_shapes(q, k, v);
  FQ_CHECK(max_score_elements > 0, "attention score budget must be positive, got ", max_score_elements);
  const int64_t chunk_rows = chunk_rows_for(q, q.size(2), max_score_elements);
  const bool needs_grad = at::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
  if (!needs_grad) return chunked_forward(q, k, v, scale, chunk_rows, nullptr);  // no log-sum-exp to keep
  return ChunkedCausalAttention::apply(q, k, v, scale, chunk_rows);
}

at::Tensor causal_attention_after_prefix(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const at::Tensor& past_k, const at::Tensor& past_v, double scale,
                                        int64_t max_score_elements) {
  check_shapes(q, k, v);
  FQ_CHECK(max_score_elements > 0, "attention score budget must be positive, got ", max_score_elements);
  FQ_CHECK(past_k.dim() == 4 && past_v.dim() == 4 && past_k.size(0) == 1 && past_v.size(0) == 1 &&
               past_k.size(1) == k.size(1) && past_v.size(1) == v.size(1) && past_k.size(2) == past_v.size(2) &&
               past_k.size(3) == k.size(3) && past_v.size(3) == v.size(3),
           "prefix keys/values must be [1, Hkv, P, d] like the keys ", k.sizes(), " and values ", v.sizes(), ", got ",
           past_k.sizes(), " and ", past_v.sizes());
  FQ_CHECK(past_k.scalar_type() == k.scalar_type() && past_v.scalar_type() == v.scalar_type(),
           "prefix keys/values dtypes differ from the keys' and values'");
  FQ_CHECK(!(at::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad())),
           "attention after a prefix is forward-only (evaluation)");
  const int64_t chunk_rows = chunk_rows_for(q, past_k.size(2) + q.size(2), max_score_elements);
  return chunked_forward(q, k, v, scale, chunk_rows, nullptr, past_k, past_v);
}

at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
#if FQ_TORCH_HAS_SDPA
  check_shapes(q, k, v);
  const int64_t rep = q.size(1) / k.size(1);
  // repeat_kv: KV head g serves query heads g * rep .. g * rep + rep - 1.
  auto repeat = [&](const at::Tensor& t) {
    return rep == 1 ? t : t.unsqueeze(2).expand({t.size(0), t.size(1), rep, t.size(2), t.size(3)}).flatten(1, 2);
  };
  at::Tensor q_in = q, k_in = repeat(k), v_in = repeat(v);
  const int64_t d_qk = q.size(3), d_v = v.size(3), d = std::max(d_qk, d_v);
  // The flash kernel wants one head size: zero columns change neither q k^T nor the kept part of P V.
  if (d_v < d) v_in = at::constant_pad_nd(v_in, {0, d - d_v});
  if (d_qk < d) {
    q_in = at::constant_pad_nd(q_in, {0, d - d_qk});
    k_in = at::constant_pad_nd(k_in, {0, d - d_qk});
  }
  at::Tensor out = at::scaled_dot_product_attention(q_in, k_in, v_in, {}, 0.0, /*is_causal=*/true, scale);
  return d_v < d ? out.narrow(-1, 0, d_v) : out;
#else
  return causal_attention_chunked(q, k, v, scale);
#endif
}

}  // namespace fq::model
