#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/error.h"
#include "lib/model/causal_lm.h"
#include "lib/model/decoder_layer.h"
#include "lib/model/deepseek_layer.h"
#include "lib/model/llama_layer.h"
#include "tests/support/random_layers.h"
#include "tests/unit/model/reference_forward.h"

namespace fq::model {
namespace {

constexpr double kLayerF32RelTol = 1e-5;   // whole layer in float32 vs the float64 reference
constexpr double kLayerBf16RelTol = 3e-2;  // whole layer in bfloat16 (dense layers: no routing flips)
constexpr double kLayerGradF32RelTol = 1e-4;

at::Tensor random_hidden(int64_t b, int64_t s, int64_t hidden, uint64_t seed) {
  at::manual_seed(seed);
  return at::randn({b, s, hidden});
}

RopeTables rope_for(const io::ModelConfig& c, int64_t s, c10::ScalarType dtype) {
  return RotaryEmbedding::for_model(c).tables(s, dtype, at::kCPU);
}

TEST(LlamaLayer, MatchesFloat64Reference) {
  const io::ModelConfig c = test::small_llama_config();
  const LlamaLayerWeights w = test::random_llama_layer(c, 31, at::kFloat);
  const at::Tensor x = random_hidden(2, 12, c.hidden_size, 32);
  LayerHooks hooks;
  const at::Tensor out = llama_layer_forward(c, w, x, rope_for(c, 12, at::kFloat), hooks);
  const double err = test::relative_l2(out, test::ref_llama_layer(c, w, x));
  EXPECT_LT(err, kLayerF32RelTol);

  const at::Tensor out_bf16 = llama_layer_forward(c, test::cast_layer(w, at::kBFloat16), x.to(at::kBFloat16),
                                                  rope_for(c, 12, at::kBFloat16), hooks);
  EXPECT_EQ(out_bf16.scalar_type(), at::kBFloat16);
  EXPECT_LT(test::relative_l2(out_bf16, test::ref_llama_layer(c, w, x)), kLayerBf16RelTol);
}

struct DeepseekCase {
  const char* name;
  bool q_lora;
  bool moe;
};

TEST(DeepseekLayer, MatchesFloat64Reference) {
  for (const DeepseekCase& dc : {DeepseekCase{"dense, q_lora", true, false}, DeepseekCase{"moe, q_lora", true, true},
                                 DeepseekCase{"moe, plain q", false, true}}) {
    const io::ModelConfig c = test::small_deepseek_config(dc.q_lora);
    const DeepseekLayerWeights w = test::random_deepseek_layer(c, dc.moe, 33, at::kFloat);
    const at::Tensor x = random_hidden(2, 10, c.hidden_size, 34);
    LayerHooks hooks;
    const at::Tensor out = deepseek_layer_forward(c, w, x, rope_for(c, 10, at::kFloat), hooks);
    EXPECT_LT(test::relative_l2(out, test::ref_deepseek_layer(c, w, x)), kLayerF32RelTol) << dc.name;
  }
}

TEST(DeepseekLayer, NonInterleavedRopeMatchesReference) {
  io::ModelConfig c = test::small_deepseek_config(true);
  c.rope_interleave = false;
  const DeepseekLayerWeights w = test::random_deepseek_layer(c, false, 35, at::kFloat);
  const at::Tensor x = random_hidden(1, 9, c.hidden_size, 36);
  LayerHooks hooks;
  const at::Tensor out = deepseek_layer_forward(c, w, x, rope_for(c, 9, at::kFloat), hooks);
  EXPECT_LT(test::relative_l2(out, test::ref_deepseek_layer(c, w, x)), kLayerF32RelTol);
  c.rope_interleave = true;  // the layout matters: the other reading gives another layer
  EXPECT_GT(test::relative_l2(out, test::ref_deepseek_layer(c, w, x)), 1e-3);
}

TEST(DeepseekLayer, DenseBfloat16StaysClose) {
  const io::ModelConfig c = test::small_deepseek_config(true);
  const DeepseekLayerWeights w = test::random_deepseek_layer(c, false, 37, at::kFloat);
  const at::Tensor x = random_hidden(2, 10, c.hidden_size, 38);
  LayerHooks hooks;
  const at::Tensor out = deepseek_layer_forward(c, test::cast_layer(w, at::kBFloat16), x.to(at::kBFloat16),
                                                rope_for(c, 10, at::kBFloat16), hooks);
  EXPECT_LT(test::relative_l2(out, test::ref_deepseek_layer(c, w, x)), kLayerBf16RelTol);
}

TEST(DecoderLayer, GradientsMatchFloat64Autograd) {
  // Calibration backpropagates through whole layers: check weight gradients, through attention and MoE.
  const io::ModelConfig lc = test::small_llama_config();
  LlamaLayerWeights lw = test::random_llama_layer(lc, 39, at::kFloat);
  const at::Tensor x = random_hidden(2, 8, 64, 40);
  LlamaLayerWeights lw64 = test::cast_layer(lw, at::kDouble);
  lw.q.requires_grad_(true), lw.mlp.up.requires_grad_(true), lw64.q.requires_grad_(true);
  lw64.mlp.up.requires_grad_(true);
  LayerHooks hooks;
  llama_layer_forward(lc, lw, x, rope_for(lc, 8, at::kFloat), hooks).pow(2).sum().backward();
  test::ref_llama_layer(lc, lw64, x).pow(2).sum().backward();
  EXPECT_LT(test::relative_l2(lw.q.grad(), lw64.q.grad()), kLayerGradF32RelTol);
  EXPECT_LT(test::relative_l2(lw.mlp.up.grad(), lw64.mlp.up.grad()), kLayerGradF32RelTol);

  const io::ModelConfig dc = test::small_deepseek_config(true);
  DeepseekLayerWeights dw = test::random_deepseek_layer(dc, true, 41, at::kFloat);
  DeepseekLayerWeights dw64 = test::cast_layer(dw, at::kDouble);
  dw.attn.kv_b.requires_grad_(true), dw.moe->up.requires_grad_(true);
  dw64.attn.kv_b.requires_grad_(true), dw64.moe->up.requires_grad_(true);
  deepseek_layer_forward(dc, dw, x, rope_for(dc, 8, at::kFloat), hooks).pow(2).sum().backward();
  test::ref_deepseek_layer(dc, dw64, x).pow(2).sum().backward();
  EXPECT_LT(test::relative_l2(dw.attn.kv_b.grad(), dw64.attn.kv_b.grad()), kLayerGradF32RelTol);
  EXPECT_LT(test::relative_l2(dw.moe->up.grad(), dw64.moe->up.grad()), kLayerGradF32RelTol);
}

TEST(DecoderLayer, DispatchesOnWeightsAndChecksInputs) {
  const io::ModelConfig lc = test::small_llama_config();
  const io::ModelConfig dc = test::small_deepseek_config(true);
  const LayerWeights llama = test::random_llama_layer(lc, 42, at::kFloat);
  const LayerWeights deepseek = test::random_deepseek_layer(dc, true, 43, at::kFloat);
  const at::Tensor x = random_hidden(1, 6, 64, 44);
  LayerHooks hooks;
  EXPECT_TRUE(
      at::equal(layer_forward(lc, llama, x, rope_for(lc, 6, at::kFloat), hooks),
                llama_layer_forward(lc, std::get<LlamaLayerWeights>(llama), x, rope_for(lc, 6, at::kFloat), hooks)));
  EXPECT_TRUE(at::equal(
      layer_forward(dc, deepseek, x, rope_for(dc, 6, at::kFloat), hooks),
      deepseek_layer_forward(dc, std::get<DeepseekLayerWeights>(deepseek), x, rope_for(dc, 6, at::kFloat), hooks)));
  EXPECT_THROW(layer_forward(dc, llama, x, rope_for(dc, 6, at::kFloat), hooks), fq::Error);
  EXPECT_THROW(layer_forward(lc, llama, x.to(at::kBFloat16), rope_for(lc, 6, at::kBFloat16), hooks), fq::Error);
  EXPECT_THROW(layer_forward(lc, llama, x, rope_for(lc, 5, at::kFloat), hooks), fq::Error);
  EXPECT_THROW(layer_forward(lc, llama, x.narrow(2, 0, 32), rope_for(lc, 6, at::kFloat), hooks), fq::Error);
}

// Prefix reuse (prefix_kv.h): a prefix run once through the layer, its keys/values kept, then sequences'
// own tokens after it give the layer outputs of the whole sequences. Float64 weights and activations: only
// summation order differs (measured 9e-17 .. 1.4e-16); the float32 softmax sees score rows of the same length
// (one chunk at these sizes; attention_test.cpp covers other chunkings).
constexpr double kPrefixF64RelTol = 1e-10;
// The MoE router runs in float32 whatever the compute dtype (as the reference's), and a float32 GEMM's rows
// depend on the batch shape: the routing weights differ at float32 rounding between any two batchings of
// the same tokens. Measured 2e-8 .. 5e-8, the same for the whole sequences in micro-batches of 2 vs 3.
constexpr double kPrefixMoeF64RelTol = 1e-6;

struct PrefixCase {
  const char* name;
  io::ModelConfig config;
  LayerWeights weights;
};

std::vector<PrefixCase> prefix_cases() {
  const io::ModelConfig llama = test::small_llama_config();
  const io::ModelConfig ds = test::small_deepseek_config(true), ds_plain_q = test::small_deepseek_config(false);
  return {{"llama", llama, test::cast_layer(test::random_llama_layer(llama, 51, at::kFloat), at::kDouble)},
          {"deepseek dense", ds, test::cast_layer(test::random_deepseek_layer(ds, false, 52, at::kFloat), at::kDouble)},
          {"deepseek moe", ds, test::cast_layer(test::random_deepseek_layer(ds, true, 53, at::kFloat), at::kDouble)},
          {"deepseek moe, plain q", ds_plain_q,
           test::cast_layer(test::random_deepseek_layer(ds_plain_q, true, 54, at::kFloat), at::kDouble)}};
}

TEST(PrefixKv, SequencesAfterASharedPrefixMatchWholeSequencesInFloat64) {
  const int64_t past = 9, s = 5, n = 3;
  for (const PrefixCase& pc : prefix_cases()) {
    const io::ModelConfig& c = pc.config;
    const at::Tensor prefix = random_hidden(1, past, c.hidden_size, 55).to(at::kDouble);
    const at::Tensor own = random_hidden(n, s, c.hidden_size, 56).to(at::kDouble);
    const at::Tensor whole_in = at::cat({prefix.expand({n, past, c.hidden_size}), own}, 1);
    LayerHooks hooks;
    const at::Tensor whole = layer_forward(c, pc.weights, whole_in, rope_for(c, past + s, at::kDouble), hooks);
    // A prefixed batch (micro-batches of 2 over 3 sequences) beside a batch computed whole, as a walk runs them.
    std::vector<PrefixedBatch> batches{{prefix.clone(), own.clone()}, {at::Tensor(), whole_in.clone()}};
    layer_forward_batches(c, pc.weights, hooks, batches, /*micro_batch=*/2);
    const bool moe = std::holds_alternative<DeepseekLayerWeights>(pc.weights) &&
                     std::get<DeepseekLayerWeights>(pc.weights).moe.has_value();
    const double tol = moe ? kPrefixMoeF64RelTol : kPrefixF64RelTol;
    const double err = test::relative_l2(batches[0].hidden, whole.narrow(1, past, s));
    const double prefix_err = test::relative_l2(batches[0].prefix, whole.narrow(0, 0, 1).narrow(1, 0, past));
    const double rebatched_err = test::relative_l2(batches[1].hidden, whole);
    std::printf("[prefix] %s float64: after prefix vs whole %.1e, prefix %.1e, whole re-batched %.1e\n", pc.name, err,
                prefix_err, rebatched_err);
    EXPECT_LT(err, tol) << pc.name;
    EXPECT_LT(prefix_err, tol) << pc.name;
    EXPECT_LT(rebatched_err, tol) << pc.name;
    // Not vacuous: the same tokens without the prefix (from position 0) give another output.
    EXPECT_GT(test::relative_l2(layer_forward(c, pc.weights, own, rope_for(c, s, at::kDouble), hooks),
                                whole.narrow(1, past, s)),
              1e-2)
        << pc.name;

    // Rope tables must cover the prefix and the sequence; a kept prefix is one sequence.
    PrefixKv kv;
    layer_forward(c, pc.weights, prefix, rope_for(c, past, at::kDouble), hooks, {nullptr, &kv});
    EXPECT_EQ(kv.key.size(2), past) << pc.name;
    EXPECT_THROW(layer_forward(c, pc.weights, own, rope_for(c, s, at::kDouble), hooks, {&kv, nullptr}), fq::Error);
    EXPECT_THROW(layer_forward(c, pc.weights, own, rope_for(c, s, at::kDouble), hooks, {nullptr, &kv}), fq::Error);
  }
}

// Counts the token positions a layer computes: every position enters the attention input group once.
class PositionCounter : public LayerHooks {
 public:
  at::Tensor group_input(LinearGroup group, const at::Tensor& x) override {
    if (group == LinearGroup::kAttnIn) positions += x.numel() / x.size(-1);
    return x;
  }
  int64_t positions = 0;
};

// Two-level reuse (loglik scoring: a question's four options after the subject's few-shot prefix): groups of
// rows, each after its own stem, computed once after the prefix; a group without a stem follows the prefix
// directly. Each row equals its whole sequence (prefix, stem, own tokens) within the prefix bounds above, the
// layer computes the prefix and each stem once (counted), and a pipeline stage's micro-batches (one
// row_chunks chunk per call, prefix and stem kept in KeptPrefixKv) give the walk's rows bit for bit.
TEST(PrefixKv, GroupsAfterTheirStemsMatchWholeSequencesAndComputeEachStemOnce) {
  const int64_t past = 7, s = 3;
  const std::vector<int64_t> stem_tokens{4, 0, 2}, group_rows{3, 1, 2};  // micro-batches of 2 cut group 0
  const int64_t n = 6;
  for (const PrefixCase& pc : prefix_cases()) {
    const io::ModelConfig& c = pc.config;
    const at::Tensor prefix = random_hidden(1, past, c.hidden_size, 61).to(at::kDouble);
    const at::Tensor own = random_hidden(n, s, c.hidden_size, 62).to(at::kDouble);
    std::vector<at::Tensor> stems;  // undefined: the group has none
    for (size_t g = 0; g < stem_tokens.size(); ++g) {
      stems.push_back(stem_tokens[g] > 0 ? random_hidden(1, stem_tokens[g], c.hidden_size, 63 + g).to(at::kDouble)
                                         : at::Tensor());
    }
    auto cloned = [](const at::Tensor& t) { return t.defined() ? t.clone() : t; };  // the walk works in place
    std::vector<PrefixedBatch> walk{PrefixedBatch{prefix.clone(), own.clone(), {}, group_rows}};
    for (const at::Tensor& stem : stems) walk[0].stems.push_back(cloned(stem));
    PositionCounter counter;
    layer_forward_batches(c, pc.weights, counter, walk, /*micro_batch=*/2);
    EXPECT_EQ(counter.positions, past + 4 + 2 + n * s) << pc.name << ": prefix and stems once, then the rows";

    const bool moe = std::holds_alternative<DeepseekLayerWeights>(pc.weights) &&
                     std::get<DeepseekLayerWeights>(pc.weights).moe.has_value();
    const double tol = moe ? kPrefixMoeF64RelTol : kPrefixF64RelTol;
    LayerHooks hooks;
    int64_t row = 0;
    for (size_t g = 0; g < stem_tokens.size(); ++g) {
      const int64_t m = group_rows[g], q = stem_tokens[g];
      std::vector<at::Tensor> parts{prefix.expand({m, past, c.hidden_size})};
      if (q > 0) parts.push_back(stems[g].expand({m, q, c.hidden_size}));
      parts.push_back(own.narrow(0, row, m));
      const at::Tensor whole =
          layer_forward(c, pc.weights, at::cat(parts, 1), rope_for(c, past + q + s, at::kDouble), hooks);
      const double err = test::relative_l2(walk[0].hidden.narrow(0, row, m), whole.narrow(1, past + q, s));
      const double stem_err = q > 0 ? test::relative_l2(walk[0].stems[g], whole.narrow(0, 0, 1).narrow(1, past, q)) : 0;
      std::printf("[prefix] %s float64, group %zu (stem of %lld): after prefix and stem vs whole %.1e, stem %.1e\n",
                  pc.name, g, static_cast<long long>(q), err, stem_err);
      EXPECT_LT(err, tol) << pc.name << " group " << g;
      EXPECT_LT(stem_err, tol) << pc.name << " group " << g;
      row += m;
    }
    // Not vacuous: the rows of group 0 after the prefix alone (without their stem) give another output.
    std::vector<PrefixedBatch> no_stem{PrefixedBatch{prefix.clone(), own.narrow(0, 0, 3).clone()}};
    layer_forward_batches(c, pc.weights, hooks, no_stem, 2);
    EXPECT_GT(test::relative_l2(no_stem[0].hidden, walk[0].hidden.narrow(0, 0, 3)), 1e-2) << pc.name;

    // A pipeline stage: one call per chunk, the first of the batch with the prefix, the first of a group
    // with the group's stem, as EvalForward cuts its micro-batches.
    KeptPrefixKv kept;
    for (const RowChunk& chunk : row_chunks(n, group_rows, 2)) {
      std::vector<PrefixedBatch> micro{PrefixedBatch{chunk.offset == 0 ? prefix.clone() : at::Tensor(),
                                                     own.narrow(0, chunk.offset, chunk.rows).clone()}};
      if (chunk.starts_group) {
        micro[0].stems = {cloned(stems[static_cast<size_t>(chunk.group)])};
        micro[0].group_rows = {chunk.rows};
      }
      layer_forward_batches(c, pc.weights, hooks, micro, 2, &kept);
      EXPECT_TRUE(at::equal(micro[0].hidden, walk[0].hidden.narrow(0, chunk.offset, chunk.rows)))
          << pc.name << ": micro-batch at row " << chunk.offset;
    }
  }
  EXPECT_EQ(row_chunks(6, {3, 1, 2}, 2).size(), 4u);
  EXPECT_THROW(row_chunks(6, {3, 1}, 2), fq::Error);  // groups must hold every row
}

}  // namespace
}  // namespace fq::model
