// Loading layers from a checkpoint and walking the whole model, on small synthetic checkpoints written to
// the build tree (random weights from random_layers.h, saved as a Hugging Face directory).
#include "lib/model/layer_loader.h"

#include <cmath>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/atomic_file.h"
#include "lib/io/safetensors.h"
#include "lib/model/causal_lm.h"
#include "lib/model/perplexity.h"
#include "lib/model/resident_layers.h"
#include "lib/model/rms_norm.h"
#include "tests/support/expect_error.h"
#include "tests/support/shared_dir.h"
#include "tests/support/random_layers.h"
#include "tests/unit/model/reference_forward.h"

namespace fq::model {
namespace {

constexpr double kModelF32RelTol = 1e-5;  // whole float32 model vs float64 composition of reference layers

// config.json text matching test::small_llama_config() / small_deepseek_config(true) (2 layers, vocab 128).
std::string llama_config_json(bool tied) {
  return std::string(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 128,
    "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 64},
    "tie_word_embeddings": )") +
         (tied ? "true}" : "false}");
}

const char* kDeepseekConfigJson = R"({"model_type": "deepseek_v3", "hidden_size": 64, "intermediate_size": 96,
  "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 128,
  "max_position_embeddings": 256, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
  "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64, "beta_fast": 32,
                   "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
  "q_lora_rank": 32, "kv_lora_rank": 16, "qk_nope_head_dim": 16, "qk_rope_head_dim": 8, "v_head_dim": 12,
  "moe_intermediate_size": 24, "n_routed_experts": 8, "n_shared_experts": 1, "num_experts_per_tok": 3,
  "n_group": 4, "topk_group": 2, "first_k_dense_replace": 1, "routed_scaling_factor": 2.5,
  "norm_topk_prob": true, "tie_word_embeddings": false})";

struct SyntheticModel {
  std::string dir;
  io::ModelConfig config;
  std::vector<LayerWeights> layers;  // float32, as written (BF16 on disk, so exact after the round trip)
  at::Tensor embed, norm, lm_head;
};

void add(std::vector<io::NamedTensor>& out, const std::string& name, const at::Tensor& t) {
  out.push_back({name, t.contiguous()});
}

void add_mlp(std::vector<io::NamedTensor>& out, const std::string& prefix, const GatedMlpWeights& m) {
  add(out, prefix + "gate_proj.weight", m.gate);
  add(out, prefix + "up_proj.weight", m.up);
  add(out, prefix + "down_proj.weight", m.down);
}

// Round-trips the weights through bfloat16 so that what is written is exactly what is expected back.
SyntheticModel write_model(const std::string& name, const std::string& config_json, bool deepseek, bool tied) {
  SyntheticModel m;
  m.dir = fq::test::scratch_dir(name);
  m.config = deepseek ? test::small_deepseek_config(true) : test::small_llama_config();
  std::vector<io::NamedTensor> tensors;
  at::manual_seed(71);
  m.embed = at::randn({128, 64}).to(at::kBFloat16);
  m.norm = (1 + 0.1 * at::randn({64})).to(at::kBFloat16);
  m.lm_head = tied ? m.embed : (at::randn({128, 64}) / 8).to(at::kBFloat16);
  add(tensors, "model.embed_tokens.weight", m.embed);
  add(tensors, "model.norm.weight", m.norm);
  if (!tied) add(tensors, "lm_head.weight", m.lm_head);
  for (int64_t i = 0; i < 2; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    if (!deepseek) {
      const LlamaLayerWeights w =
          test::cast_layer(test::random_llama_layer(m.config, 80 + i, at::kBFloat16), at::kFloat);
      add(tensors, p + "input_layernorm.weight", w.input_norm.to(at::kBFloat16));
      add(tensors, p + "self_attn.q_proj.weight", w.q.to(at::kBFloat16));
      add(tensors, p + "self_attn.k_proj.weight", w.k.to(at::kBFloat16));
      add(tensors, p + "self_attn.v_proj.weight", w.v.to(at::kBFloat16));
      add(tensors, p + "self_attn.o_proj.weight", w.o.to(at::kBFloat16));
      add(tensors, p + "post_attention_layernorm.weight", w.post_attention_norm.to(at::kBFloat16));
      add_mlp(tensors, p + "mlp.", test::cast_layer(w, at::kBFloat16).mlp);
      m.layers.push_back(w);
      continue;
    }
    DeepseekLayerWeights w =
        test::cast_layer(test::random_deepseek_layer(m.config, i == 1, 90 + i, at::kBFloat16), at::kFloat);
    const DeepseekLayerWeights b = test::cast_layer(w, at::kBFloat16);
    add(tensors, p + "input_layernorm.weight", b.input_norm);
    add(tensors, p + "post_attention_layernorm.weight", b.post_attention_norm);
    const std::string a = p + "self_attn.";
    add(tensors, a + "q_a_proj.weight", b.attn.q_a);
    add(tensors, a + "q_a_layernorm.weight", b.attn.q_a_norm);
    add(tensors, a + "q_b_proj.weight", b.attn.q_b);
    add(tensors, a + "kv_a_proj_with_mqa.weight", b.attn.kv_a);
    add(tensors, a + "kv_a_layernorm.weight", b.attn.kv_a_norm);
    add(tensors, a + "kv_b_proj.weight", b.attn.kv_b);
    add(tensors, a + "o_proj.weight", b.attn.o);
    if (b.dense) {
      add_mlp(tensors, p + "mlp.", *b.dense);
    } else {
      add(tensors, p + "mlp.gate.weight", b.moe->router);  // float32 on disk, as some releases store it
      add(tensors, p + "mlp.gate.e_score_correction_bias", b.moe->score_bias);
      for (int64_t e = 0; e < 8; ++e) {
        add_mlp(tensors, p + "mlp.experts." + std::to_string(e) + ".", {b.moe->gate[e], b.moe->up[e], b.moe->down[e]});
      }
      add_mlp(tensors, p + "mlp.shared_experts.", *b.moe->shared);
    }
    m.layers.push_back(w);
  }
  write_file_atomic(m.dir + "/config.json", config_json);
  io::write_safetensors(m.dir + "/model.safetensors", tensors);
  return m;
}

bool same_tensor(const at::Tensor& loaded, const at::Tensor& expected) {
  return loaded.defined() == expected.defined() &&
         (!loaded.defined() || at::equal(loaded, expected.to(loaded.scalar_type())));
}

TEST(LayerLoader, LoadsLlamaLayersAndHead) {
  const SyntheticModel m = write_model("model_llama", llama_config_json(false), false, false);
  const io::Checkpoint ckpt(m.dir);
  const LlamaLayerWeights w = load_llama_layer(ckpt, 1, at::kFloat, at::kCPU);
  const LlamaLayerWeights& e = std::get<LlamaLayerWeights>(m.layers[1]);
  for (auto [loaded, expected] : {std::pair{w.input_norm, e.input_norm},
                                  {w.q, e.q},
                                  {w.k, e.k},
                                  {w.v, e.v},
                                  {w.o, e.o},
                                  {w.post_attention_norm, e.post_attention_norm},
                                  {w.mlp.gate, e.mlp.gate},
                                  {w.mlp.up, e.mlp.up},
                                  {w.mlp.down, e.mlp.down}}) {
    EXPECT_TRUE(same_tensor(loaded, expected));
    EXPECT_EQ(loaded.scalar_type(), at::kFloat);
  }
  EXPECT_EQ(load_llama_layer(ckpt, 0, at::kBFloat16, at::kCPU).q.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(same_tensor(load_lm_head(ckpt, at::kFloat, at::kCPU), m.lm_head));
  EXPECT_TRUE(same_tensor(load_embedding(ckpt, at::kFloat, at::kCPU), m.embed));
  EXPECT_TRUE(same_tensor(load_final_norm(ckpt, at::kFloat, at::kCPU), m.norm));
  fq::test::expect_error([&] { load_llama_layer(ckpt, 2, at::kFloat, at::kCPU); }, {m.dir, "layer 2"});
  fq::test::expect_error([&] { load_deepseek_layer(ckpt, 0, at::kFloat, at::kCPU); }, {m.dir, "llama"});
}

TEST(LayerLoader, TiedHeadIsTheEmbedding) {
  const SyntheticModel m = write_model("model_llama_tied", llama_config_json(true), false, true);
  const io::Checkpoint ckpt(m.dir);
  EXPECT_FALSE(ckpt.contains("lm_head.weight"));
  EXPECT_TRUE(same_tensor(load_lm_head(ckpt, at::kFloat, at::kCPU), m.embed));
}

TEST(LayerLoader, LoadsDeepseekDenseAndStackedMoeLayers) {
  const SyntheticModel m = write_model("model_deepseek", kDeepseekConfigJson, true, false);
  const io::Checkpoint ckpt(m.dir);
  const DeepseekLayerWeights dense = load_deepseek_layer(ckpt, 0, at::kFloat, at::kCPU);
  ASSERT_TRUE(dense.dense.has_value());
  EXPECT_FALSE(dense.moe.has_value());
  const DeepseekLayerWeights moe = load_deepseek_layer(ckpt, 1, at::kBFloat16, at::kCPU);
  ASSERT_TRUE(moe.moe.has_value());
  EXPECT_FALSE(moe.dense.has_value());
  const DeepseekLayerWeights& e = std::get<DeepseekLayerWeights>(m.layers[1]);
  EXPECT_TRUE(same_tensor(moe.attn.kv_b, e.attn.kv_b));
  EXPECT_TRUE(same_tensor(moe.attn.q_a_norm, e.attn.q_a_norm));
  EXPECT_EQ(moe.moe->gate.sizes(), (std::vector<int64_t>{8, 24, 64}));
  EXPECT_EQ(moe.moe->down.sizes(), (std::vector<int64_t>{8, 64, 24}));
  EXPECT_EQ(moe.moe->up.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(same_tensor(moe.moe->gate, e.moe->gate));
  EXPECT_TRUE(same_tensor(moe.moe->up, e.moe->up));
  EXPECT_TRUE(same_tensor(moe.moe->down, e.moe->down));
  EXPECT_EQ(moe.moe->router.scalar_type(), at::kFloat);  // router and bias stay float32 whatever the dtype
  EXPECT_EQ(moe.moe->score_bias.scalar_type(), at::kFloat);
  EXPECT_TRUE(same_tensor(moe.moe->router, e.moe->router));
  EXPECT_TRUE(same_tensor(moe.moe->shared->down, e.moe->shared->down));
  // LayerWeights dispatch by family.
  EXPECT_TRUE(std::holds_alternative<DeepseekLayerWeights>(load_layer(ckpt, 1, at::kFloat, at::kCPU)));
}

TEST(LayerLoader, WrongShapeNamesCheckpointAndTensor) {
  SyntheticModel m = write_model("model_llama_bad", llama_config_json(false), false, false);
  // Claim a wider intermediate size than the tensors have.
  std::string config = llama_config_json(false);
  config.replace(config.find("\"intermediate_size\": 96"), 23, "\"intermediate_size\": 97");
  write_file_atomic(m.dir + "/config.json", config);
  const io::Checkpoint ckpt(m.dir);
  fq::test::expect_error([&] { load_llama_layer(ckpt, 0, at::kFloat, at::kCPU); },
                         {m.dir, "model.layers.0.mlp.gate_proj.weight", "[96, 64]", "[97, 64]"});
}

// Float64 composition of the reference layers: embedding, layers, final norm, lm_head.
at::Tensor reference_logits(const SyntheticModel& m, const at::Tensor& ids) {
  at::Tensor h = m.embed.to(at::kDouble).index_select(0, ids.reshape({-1})).view({ids.size(0), ids.size(1), -1});
  for (const LayerWeights& layer : m.layers) {
    h = std::holds_alternative<LlamaLayerWeights>(layer)
            ? test::ref_llama_layer(m.config, std::get<LlamaLayerWeights>(layer), h)
            : test::ref_deepseek_layer(m.config, std::get<DeepseekLayerWeights>(layer), h);
  }
  return at::matmul(test::ref_rms_norm(h, m.norm, m.config.rms_norm_eps), m.lm_head.to(at::kDouble).t());
}

TEST(CausalLm, LogitsMatchReferenceLayersComposed) {
  for (bool deepseek : {false, true}) {
    const SyntheticModel m = deepseek ? write_model("model_deepseek_lm", kDeepseekConfigJson, true, false)
                                      : write_model("model_llama_lm", llama_config_json(false), false, false);
    const io::Checkpoint ckpt(m.dir);
    at::manual_seed(72);
    const at::Tensor ids = at::randint(0, 128, {3, 11}, at::kLong);
    ModelOptions options;
    options.micro_batch = 2;  // 3 windows: one full and one partial micro-batch
    const at::Tensor logits = causal_lm_logits(ckpt, ids, options);
    EXPECT_EQ(logits.scalar_type(), at::kFloat);
    EXPECT_LT(test::relative_l2(logits, reference_logits(m, ids)), kModelF32RelTol) << m.config.model_type;
    options.micro_batch = 8;
    EXPECT_TRUE(at::allclose(causal_lm_logits(ckpt, ids, options), logits, 1e-5, 1e-5)) << m.config.model_type;
  }
}

TEST(CausalLm, PerplexityFollowsTheWindowProtocol) {
  const SyntheticModel m = write_model("model_llama_ppl", llama_config_json(false), false, false);
  const io::Checkpoint ckpt(m.dir);
  at::manual_seed(73);
  const at::Tensor stream = at::randint(0, 128, {3 * 9 + 5}, at::kLong);  // 3 windows of 9, 5 tokens dropped
  const std::vector<int64_t> ids(stream.data_ptr<int64_t>(), stream.data_ptr<int64_t>() + stream.numel());
  PerplexityOptions options;
  options.window = 9;
  options.model.micro_batch = 2;
  const PerplexityResult result = perplexity(ckpt, ids, options);
  ASSERT_EQ(result.window_nll.size(), 3u);
  const at::Tensor windows = stream.narrow(0, 0, 27).view({3, 9});
  const at::Tensor expected = window_mean_nll(reference_logits(m, windows).to(at::kFloat), windows);
  for (int64_t n = 0; n < 3; ++n) EXPECT_NEAR(result.window_nll[n], expected[n].item<double>(), 1e-5);
  EXPECT_NEAR(result.perplexity, std::exp(expected.mean().item<double>()), 1e-4 * result.perplexity);
  fq::test::expect_error([&] { embed_tokens(ckpt, at::full({1, 4}, 128, at::kLong), ModelOptions{}); }, {"[0, 128)"});
}

// Hooks that scale every linear output by a factor of the layer: a forward that skipped or mixed up a
// layer's hooks gives other numbers.
class ScaledLinears : public LayerHooks {
 public:
  explicit ScaledLinears(int64_t layer) : scale_(1.0 + 0.125 * static_cast<double>(layer + 1)) {}
  at::Tensor linear(LinearSite site, const at::Tensor& x, const at::Tensor& weight) override {
    return LayerHooks::linear(site, x, weight) * scale_;
  }

 private:
  double scale_;
};

// A pipeline of two stages (layer 0, layer 1), micro-batch by micro-batch, computes bit for bit what the
// layer-by-layer walk computes: the same layer calls on the same micro-batches, with or without a prefix
// (run once, with the first micro-batch).
TEST(CausalLm, ResidentLayerRangesChainedEqualTheWalk) {
  for (bool deepseek : {false, true}) {
    const SyntheticModel m = deepseek ? write_model("model_deepseek_stages", kDeepseekConfigJson, true, false)
                                      : write_model("model_llama_stages", llama_config_json(false), false, false);
    const io::Checkpoint ckpt(m.dir);
    at::manual_seed(74);
    const at::Tensor ids = at::randint(0, 128, {5, 7}, at::kLong);
    ModelOptions options;
    options.micro_batch = 2;  // 5 rows: two full micro-batches and a partial one
    int built = 0;
    const HooksForLayer hooks = [&](int64_t layer, LayerWeights&) -> std::unique_ptr<LayerHooks> {
      ++built;
      return std::make_unique<ScaledLinears>(layer);
    };
    const at::Tensor walked = run_decoder_layers(ckpt, embed_tokens(ckpt, ids, options), options, hooks);
    EXPECT_EQ(built, 2);
    EXPECT_GT(test::relative_l2(walked, run_decoder_layers(ckpt, embed_tokens(ckpt, ids, options), options)), 1e-3)
        << "the hooks must act";

    const TokenEmbedding embedding = load_token_embedding(ckpt, options);
    const PrefixedTokenRows prefixed{at::randint(0, 128, {4}, at::kLong), ids};
    const at::Tensor walked_prefixed =
        run_decoder_layers(ckpt, std::vector<PrefixedBatch>{embedding.embed(prefixed)}, options, hooks)[0];
    EXPECT_GT(test::relative_l2(walked_prefixed, walked), 1e-3) << "the prefix must act";
    EXPECT_EQ(built, 4);
    ResidentLayers first(ckpt, 0, 1, options, hooks), second(ckpt, 1, 2, options, hooks);
    EXPECT_EQ(built, 6);  // once per layer, kept for every micro-batch
    // Rows after a shared prefix: the first micro-batch brings the prefix, each stage keeps its keys/values
    // for the later ones, as layer_forward_batches does within one walk.
    for (int64_t i = 0; i < 5; i += 2) {
      const int64_t rows = std::min<int64_t>(2, 5 - i);
      PrefixedBatch piped = embedding.embed(PrefixedTokenRows{i == 0 ? prefixed.prefix : at::Tensor(), ids.narrow(0, i, rows)});
      first.forward_micro_batch(piped, i > 0);
      second.forward_micro_batch(piped, i > 0);
      EXPECT_TRUE(at::equal(piped.hidden, walked_prefixed.narrow(0, i, rows))) << m.config.model_type << " rows " << i;
    }
    // Rows without a prefix next: their first micro-batch forgets the kept one.
    for (int64_t i = 0; i < 5; i += 2) {
      const int64_t rows = std::min<int64_t>(2, 5 - i);
      PrefixedBatch piped{at::Tensor(), embedding.embed(ids.narrow(0, i, rows))};
      first.forward_micro_batch(piped, i > 0);
      second.forward_micro_batch(piped, i > 0);
      EXPECT_TRUE(at::equal(piped.hidden, walked.narrow(0, i, rows))) << m.config.model_type << " rows " << i;
    }
    EXPECT_EQ(built, 6);

    // walk_token_rows hands each micro-batch, numbered from first_row, to the results callback.
    const OutputHead head = load_output_head(ckpt, options);
    const RowResults last_logit = [](const OutputHead& h, int64_t first_row, const at::Tensor& rows,
                                     const at::Tensor& hidden) {
      EXPECT_EQ(rows.size(0), hidden.size(0));
      return at::stack({at::arange(first_row, first_row + rows.size(0), at::kDouble),
                        h.logits(hidden).select(1, -1).select(1, 0).to(at::kDouble)}, 1);
    };
    const at::Tensor results = walk_token_rows(ckpt, {{at::Tensor(), ids}}, options, hooks, last_logit, 10);
    ASSERT_EQ(results.sizes().vec(), (std::vector<int64_t>{5, 2}));
    EXPECT_TRUE(at::equal(results.select(1, 0), at::arange(10, 15, at::kDouble)));
    EXPECT_TRUE(at::allclose(results.select(1, 1), head.logits(walked).select(1, -1).select(1, 0).to(at::kDouble),
                             1e-6, 1e-6));
  }
  const SyntheticModel m = write_model("model_llama_stages", llama_config_json(false), false, false);
  const io::Checkpoint ckpt(m.dir);
  fq::test::expect_error([&] { ResidentLayers(ckpt, 1, 3, ModelOptions{}); }, {"[1, 3)", "2 decoder layers", m.dir});
}

}  // namespace
}  // namespace fq::model
