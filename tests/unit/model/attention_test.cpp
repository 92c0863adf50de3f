#include "lib/model/attention.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/version.h>

#include "lib/core/error.h"
#include "tests/support/random_layers.h"
#include "tests/unit/model/reference_forward.h"

namespace fq::model {
namespace {

constexpr double kAttentionF32RelTol = 1e-5;   // float32 vs the float64 reference
constexpr double kAttentionBf16RelTol = 2e-2;  // bf16 scores and probabilities (8-bit mantissa)
constexpr double kGradF32RelTol = 1e-4;        // float32 recomputed backward vs float64 autograd

struct Shape {
  int64_t b, heads, kv_heads, s, d_qk, d_v;
};

struct Inputs {
  at::Tensor q, k, v;
};

Inputs random_inputs(const Shape& sh, uint64_t seed, c10::ScalarType dtype = at::kFloat) {
  at::manual_seed(seed);
  return {at::randn({sh.b, sh.heads, sh.s, sh.d_qk}).to(dtype), at::randn({sh.b, sh.kv_heads, sh.s, sh.d_qk}).to(dtype),
          at::randn({sh.b, sh.kv_heads, sh.s, sh.d_v}).to(dtype)};
}

const Shape kShapes[] = {
    {2, 4, 4, 13, 8, 8},    // multi-head
    {2, 8, 2, 17, 16, 16},  // GQA, 4 query heads per KV head
    {1, 4, 1, 9, 24, 12},   // MQA with V narrower than QK (MLA-like)
};

TEST(Attention, ChunkedMatchesFloat64ReferenceAcrossChunkSizes) {
  for (const Shape& sh : kShapes) {
    const Inputs in = random_inputs(sh, 11);
    const double scale = 0.3;
    const at::Tensor expected = test::ref_causal_attention(in.q, in.k, in.v, scale);
    // Budgets giving one row per chunk, uneven chunks, and a single chunk.
    for (int64_t budget : {int64_t{1}, sh.b * sh.heads * sh.s * 5, kDefaultMaxScoreElements}) {
      const at::Tensor out = causal_attention_chunked(in.q, in.k, in.v, scale, budget);
      ASSERT_EQ(out.sizes(), expected.sizes());
      const double err = test::relative_l2(out, expected);
      EXPECT_LT(err, kAttentionF32RelTol) << "shape s=" << sh.s << " H=" << sh.heads << " budget=" << budget;
    }
  }
}

TEST(Attention, DispatchedPathMatchesFloat64Reference) {
  // LibTorch >= 2.1: scaled_dot_product_attention (with V padding when d_v != d_qk); 1.13: the chunked path.
  for (const Shape& sh : kShapes) {
    const Inputs in = random_inputs(sh, 12);
    const at::Tensor out = causal_attention(in.q, in.k, in.v, 0.25);
    EXPECT_LT(test::relative_l2(out, test::ref_causal_attention(in.q, in.k, in.v, 0.25)), kAttentionF32RelTol)
        << "torch " << TORCH_VERSION_MAJOR << "." << TORCH_VERSION_MINOR << " s=" << sh.s;
  }
}

TEST(Attention, Bfloat16StaysCloseToReference) {
  const Shape sh = kShapes[1];
  const Inputs in = random_inputs(sh, 13, at::kBFloat16);
  const at::Tensor expected = test::ref_causal_attention(in.q, in.k, in.v, 0.25);
  const at::Tensor chunked = causal_attention_chunked(in.q, in.k, in.v, 0.25, 64);
  EXPECT_EQ(chunked.scalar_type(), at::kBFloat16);
  EXPECT_LT(test::relative_l2(chunked, expected), kAttentionBf16RelTol);
  EXPECT_LT(test::relative_l2(causal_attention(in.q, in.k, in.v, 0.25), expected), kAttentionBf16RelTol);
}

TEST(Attention, FirstPositionSeesOnlyItself) {
  // Exact property of causality: row 0 of the output is v[0] of its KV head.
  const Inputs in = random_inputs(kShapes[1], 14);
  const at::Tensor out = causal_attention_chunked(in.q, in.k, in.v, 0.5, 32);
  const at::Tensor v0 = in.v.select(2, 0).repeat_interleave(4, 1);
  EXPECT_TRUE(at::allclose(out.select(2, 0), v0, 1e-6, 1e-6));
}

TEST(Attention, ChunkedGradientsMatchFloat64Autograd) {
  for (const Shape& sh : kShapes) {
    const Inputs in = random_inputs(sh, 15);
    at::manual_seed(16);
    const at::Tensor grad_out = at::randn({sh.b, sh.heads, sh.s, sh.d_v});
    auto leaf = [](const at::Tensor& t, c10::ScalarType dtype) { return t.to(dtype).detach().requires_grad_(true); };
    at::Tensor q = leaf(in.q, at::kFloat), k = leaf(in.k, at::kFloat), v = leaf(in.v, at::kFloat);
    (causal_attention_chunked(q, k, v, 0.3, sh.b * sh.heads * sh.s * 3) * grad_out).sum().backward();
    at::Tensor q64 = leaf(in.q, at::kDouble), k64 = leaf(in.k, at::kDouble), v64 = leaf(in.v, at::kDouble);
    (test::ref_causal_attention(q64, k64, v64, 0.3) * grad_out.to(at::kDouble)).sum().backward();
    EXPECT_LT(test::relative_l2(q.grad(), q64.grad()), kGradF32RelTol) << "dq s=" << sh.s;
    EXPECT_LT(test::relative_l2(k.grad(), k64.grad()), kGradF32RelTol) << "dk s=" << sh.s;
    EXPECT_LT(test::relative_l2(v.grad(), v64.grad()), kGradF32RelTol) << "dv s=" << sh.s;
  }
}

TEST(Attention, DispatchedPathIsDifferentiable) {
  const Shape sh = kShapes[2];
  const Inputs in = random_inputs(sh, 17);
  at::Tensor q = in.q.clone().requires_grad_(true), k = in.k.clone().requires_grad_(true);
  at::Tensor v = in.v.clone().requires_grad_(true);
  causal_attention(q, k, v, 0.3).pow(2).sum().backward();
  at::Tensor q64 = in.q.to(at::kDouble).requires_grad_(true), k64 = in.k.to(at::kDouble).requires_grad_(true);
  at::Tensor v64 = in.v.to(at::kDouble).requires_grad_(true);
  test::ref_causal_attention(q64, k64, v64, 0.3).pow(2).sum().backward();
  EXPECT_LT(test::relative_l2(q.grad(), q64.grad()), kGradF32RelTol);
  EXPECT_LT(test::relative_l2(k.grad(), k64.grad()), kGradF32RelTol);
  EXPECT_LT(test::relative_l2(v.grad(), v64.grad()), kGradF32RelTol);
}

// Prefix reuse: queries after P shared positions see the prefix's keys/values, computed once for the batch,
// then their own keys causally: rows P.. of the attention over the whole sequences, for every chunking of
// the rows. In float64 the softmax still runs in float32 (as the reference's does): against the float64
// reference the float32 probabilities differ (measured 6e-8 .. 7e-8). Against the whole sequences through
// the same attention with score rows of the same length (one key per visible position, or one chunk),
// only float64 sums differ (measured ~1e-16); other chunk boundaries pad rows with masked keys, which moves
// the float32 softmax's summation order (~2e-8).
constexpr double kAfterPrefixF64RelTol = 1e-12;
constexpr double kAfterPrefixVsReferenceRelTol = 1e-6;

TEST(Attention, AfterPrefixEqualsRowsOfTheWholeSequences) {
  for (const Shape& sh : kShapes) {
    const int64_t past = 6;
    const Inputs own = random_inputs(sh, 19, at::kDouble);
    const Inputs prefix = random_inputs({1, sh.heads, sh.kv_heads, past, sh.d_qk, sh.d_v}, 20, at::kDouble);
    auto whole = [&](const at::Tensor& p, const at::Tensor& t) {
      return at::cat({p.expand({sh.b, p.size(1), past, p.size(3)}), t}, 2);
    };
    const at::Tensor q = whole(prefix.q, own.q), k = whole(prefix.k, own.k), v = whole(prefix.v, own.v);
    const at::Tensor reference = test::ref_causal_attention(q, k, v, 0.3).narrow(2, past, sh.s);
    for (int64_t budget : {int64_t{1}, sh.b * sh.heads * (past + sh.s) * 4, kDefaultMaxScoreElements}) {
      const at::Tensor out = causal_attention_after_prefix(own.q, own.k, own.v, prefix.k, prefix.v, 0.3, budget);
      ASSERT_EQ(out.sizes(), reference.sizes());
      EXPECT_LT(test::relative_l2(out, reference), kAfterPrefixVsReferenceRelTol) << "s=" << sh.s;
      if (budget == 1 || budget == kDefaultMaxScoreElements) {
        const at::Tensor same_rows = causal_attention_chunked(q, k, v, 0.3, budget).narrow(2, past, sh.s);
        EXPECT_LT(test::relative_l2(out, same_rows), kAfterPrefixF64RelTol) << "s=" << sh.s << " budget=" << budget;
      }
    }
    // Not vacuous: without the prefix the rows are another attention.
    EXPECT_GT(test::relative_l2(causal_attention(own.q, own.k, own.v, 0.3), reference), 0.1);
  }
  // bfloat16 (the GPU evaluation dtype) stays as close to the reference as the whole-sequence attention.
  const Shape sh = kShapes[1];
  const Inputs own = random_inputs(sh, 22), prefix = random_inputs({1, sh.heads, sh.kv_heads, 6, sh.d_qk, sh.d_v}, 23);
  auto whole = [&](const at::Tensor& p, const at::Tensor& t) {
    return at::cat({p.expand({sh.b, p.size(1), p.size(2), p.size(3)}), t}, 2);
  };
  const at::Tensor reference =
      test::ref_causal_attention(whole(prefix.q, own.q), whole(prefix.k, own.k), whole(prefix.v, own.v), 0.3)
          .narrow(2, 6, sh.s);
  auto bf16 = [](const at::Tensor& t) { return t.to(at::kBFloat16); };
  const at::Tensor out_bf16 = causal_attention_after_prefix(bf16(own.q), bf16(own.k), bf16(own.v), bf16(prefix.k),
                                                            bf16(prefix.v), 0.3);
  EXPECT_EQ(out_bf16.scalar_type(), at::kBFloat16);
  EXPECT_LT(test::relative_l2(out_bf16, reference), kAttentionBf16RelTol);

  const Inputs in = random_inputs(kShapes[1], 21);
  EXPECT_THROW(causal_attention_after_prefix(in.q, in.k, in.v, in.k, in.v, 0.3), fq::Error);  // batch 2, not 1
  EXPECT_THROW(causal_attention_after_prefix(in.q, in.k, in.v, in.k.narrow(0, 0, 1).narrow(3, 0, 8),
                                             in.v.narrow(0, 0, 1), 0.3),
               fq::Error);
}

TEST(Attention, RejectsMismatchedShapes) {
  const Inputs in = random_inputs(kShapes[1], 18);
  EXPECT_THROW(causal_attention(in.q, in.k.narrow(1, 0, 1).repeat({1, 3, 1, 1}), in.v, 1.0), fq::Error);
  EXPECT_THROW(causal_attention(in.q, in.k.narrow(3, 0, 8), in.v, 1.0), fq::Error);
  EXPECT_THROW(causal_attention(in.q.flatten(0, 1), in.k, in.v, 1.0), fq::Error);
}

}  // namespace
}  // namespace fq::model
