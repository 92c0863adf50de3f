#include "lib/model/synthetic_weights.h"

#include <cmath>
#include <map>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/model/synthetic_checkpoint.h"

namespace fq::model {
namespace {

using io::ModelFamily;

io::ModelConfig config_of(SyntheticPreset preset, ModelFamily family, int64_t layers = 0) {
  return io::parse_model_config_text(synthetic_config(preset, family, layers).dump(), "synthetic config");
}

const WeightRecipe& find(const std::vector<WeightRecipe>& recipes, const std::string& name) {
  for (const WeightRecipe& r : recipes) {
    if (r.name == name) return r;
  }
  throw Error(str("no recipe '", name, "'"));
}

TEST(SyntheticNormal, MomentsOfAStandardNormal) {
  const int64_t n = 1 << 20;
  std::vector<float> v(n);
  fill_standard_normal(42, 0, v.data(), n);
  double sum = 0, sum2 = 0;
  int64_t within_one = 0;
  for (float x : v) {
    sum += x;
    sum2 += static_cast<double>(x) * x;
    within_one += std::fabs(x) < 1.0f;
  }
  const double mean = sum / n;
  const double stddev = std::sqrt(sum2 / n - mean * mean);
  // Five standard errors: mean 1/sqrt(n) ~ 0.001, std ~0.0007, P(|z| < 1) = 0.6827 with error ~0.0005.
  EXPECT_NEAR(mean, 0.0, 0.005);
  EXPECT_NEAR(stddev, 1.0, 0.0035);
  EXPECT_NEAR(static_cast<double>(within_one) / n, 0.6827, 0.0025);
}

TEST(SyntheticNormal, AnySplitOfTheRangeGivesTheSameValues) {
  const int64_t n = 100001;
  std::vector<float> whole(n), pieces(n);
  fill_standard_normal(7, 5, whole.data(), n);
  // Odd boundaries split Box-Muller pairs between calls.
  const std::vector<int64_t> cuts = {0, 1, 4, 333, 70001, n};
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    fill_standard_normal(7, 5 + cuts[i], pieces.data() + cuts[i], cuts[i + 1] - cuts[i]);
  }
  EXPECT_EQ(whole, pieces);
  std::vector<float> other(n);
  fill_standard_normal(8, 5, other.data(), n);
  EXPECT_NE(whole, other) << "another stream must differ";
}

TEST(SyntheticWeights, StoredRowsInPiecesEqualTheWholeTensor) {
  for (io::StDtype dtype : {io::StDtype::kBF16, io::StDtype::kF8E4M3}) {
    WeightRecipe r{"w", {300, 200}, dtype, 0.0f, 0.02f, {{5, 32.0f}}, {{7, 1.0f / 16}}, 0};
    StoredRows whole = synthesize_stored_rows(r, 3, 0, 300);
    std::vector<at::Tensor> data, scales;
    for (auto [lo, hi] : {std::pair<int64_t, int64_t>{0, 128}, {128, 256}, {256, 300}}) {
      StoredRows part = synthesize_stored_rows(r, 3, lo, hi);
      data.push_back(part.data);
      if (part.scale_inv.defined()) scales.push_back(part.scale_inv);
    }
    EXPECT_TRUE(at::equal(at::cat(data), whole.data)) << io::st_dtype_name(dtype);
    if (dtype == io::StDtype::kF8E4M3) {
      EXPECT_TRUE(at::equal(at::cat(scales), whole.scale_inv));
      EXPECT_EQ(whole.scale_inv.sizes(), (c10::IntArrayRef{3, 2}));
    }
  }
}

TEST(SyntheticWeights, DeepseekV3TensorsAsTheRelease) {
  const io::ModelConfig c = config_of(SyntheticPreset::kDeepseekV3, ModelFamily::kLlama, 4);
  const std::vector<WeightRecipe> fp8 = synthetic_weight_recipes(c, 0, /*fp8=*/true, /*outliers=*/true);
  const std::map<std::string, std::vector<int64_t>> shapes = {
      {"model.embed_tokens.weight", {129280, 7168}},
      {"model.layers.3.self_attn.q_a_proj.weight", {1536, 7168}},
      {"model.layers.3.self_attn.q_a_layernorm.weight", {1536}},
      {"model.layers.3.self_attn.q_b_proj.weight", {128 * 192, 1536}},
      {"model.layers.3.self_attn.kv_a_proj_with_mqa.weight", {512 + 64, 7168}},
      {"model.layers.3.self_attn.kv_a_layernorm.weight", {512}},
      {"model.layers.3.self_attn.kv_b_proj.weight", {128 * (128 + 128), 512}},
      {"model.layers.3.self_attn.o_proj.weight", {7168, 128 * 128}},
      {"model.layers.2.mlp.down_proj.weight", {7168, 18432}},
      {"model.layers.3.mlp.gate.weight", {256, 7168}},
      {"model.layers.3.mlp.gate.e_score_correction_bias", {256}},
      {"model.layers.3.mlp.experts.255.up_proj.weight", {2048, 7168}},
      {"model.layers.3.mlp.experts.0.down_proj.weight", {7168, 2048}},
      {"model.layers.3.mlp.shared_experts.gate_proj.weight", {2048, 7168}},
      {"lm_head.weight", {129280, 7168}}};
  for (const auto& [name, shape] : shapes) EXPECT_EQ(find(fp8, name).shape, shape) << name;
  EXPECT_EQ(find(fp8, "model.layers.3.self_attn.q_a_proj.weight").dtype, io::StDtype::kF8E4M3);
  EXPECT_EQ(find(fp8, "model.layers.3.mlp.experts.7.gate_proj.weight").dtype, io::StDtype::kF8E4M3);
  EXPECT_EQ(find(fp8, "model.layers.3.mlp.gate.weight").dtype, io::StDtype::kBF16) << "the router stays BF16";
  EXPECT_EQ(find(fp8, "model.layers.3.mlp.gate.e_score_correction_bias").dtype, io::StDtype::kF32);
  EXPECT_EQ(find(fp8, "model.layers.3.input_layernorm.weight").dtype, io::StDtype::kBF16);
  EXPECT_EQ(find(fp8, "model.embed_tokens.weight").dtype, io::StDtype::kBF16);
  EXPECT_EQ(find(fp8, "lm_head.weight").dtype, io::StDtype::kBF16);
  EXPECT_FALSE(c.is_moe_layer(2));

  // One MoE layer by REFERENCE.md section 3's shapes: routed and shared experts, MLA, router, norms, bias.
  // (Its "~11.9 B parameters, ~22 GB" is approximate: these shapes give 11.51 B and 23.0 GB.)
  const double want_params = 256.0 * 3 * 7168 * 2048 + 3.0 * 7168 * 2048 + 1536.0 * 7168 + 24576.0 * 1536 +
                             576.0 * 7168 + 32768.0 * 512 + 7168.0 * 16384 + 256.0 * 7168 + 2 * 7168 + 1536 + 512 + 256;
  const std::vector<WeightRecipe> bf16 = synthetic_weight_recipes(c, 0, false, true);
  double params = 0, bf16_bytes = 0, fp8_bytes = 0;
  for (std::size_t i = 0; i < bf16.size(); ++i) {
    if (bf16[i].layer != 3) continue;
    double numel = 1;
    for (int64_t d : bf16[i].shape) numel *= static_cast<double>(d);
    params += numel;
    bf16_bytes += static_cast<double>(bf16[i].stored_bytes());
    fp8_bytes += static_cast<double>(fp8[i].stored_bytes());
  }
  std::printf("[deepseek-v3 MoE layer] %.4f B parameters, %.2f GB BF16, %.2f GB FP8\n", params / 1e9, bf16_bytes / 1e9,
              fp8_bytes / 1e9);
  EXPECT_EQ(params, want_params);
  EXPECT_EQ(bf16_bytes, 2 * (want_params - 256) + 4 * 256) << "BF16 but the float32 bias";
  EXPECT_NEAR(fp8_bytes / 1e9, 11.51, 0.02) << "one byte per linear weight plus BF16 router and norms";
}

TEST(SyntheticWeights, LlamaPresetsAsTheReleases) {
  const io::ModelConfig c70 = config_of(SyntheticPreset::kLlama3_70B, ModelFamily::kLlama, 1);
  const std::vector<WeightRecipe> r = synthetic_weight_recipes(c70, 0, false, true);
  EXPECT_EQ(find(r, "model.layers.0.self_attn.k_proj.weight").shape, (std::vector<int64_t>{1024, 8192}));
  EXPECT_EQ(find(r, "model.layers.0.mlp.down_proj.weight").shape, (std::vector<int64_t>{8192, 28672}));
  double params = 0;
  for (const WeightRecipe& w : r) params += w.layer == 0 ? static_cast<double>(w.stored_bytes()) / 2 : 0.0;
  EXPECT_NEAR(params / 1e9, 0.86, 0.01) << "a Llama-3-70B layer is ~0.86 B parameters";
  const io::ModelConfig c8 = config_of(SyntheticPreset::kLlama3_8B, ModelFamily::kLlama);
  EXPECT_EQ(c8.num_hidden_layers, 32);
  EXPECT_EQ(synthetic_weight_recipes(c8, 0, false, true).size(), 32u * 9 + 3);
}

// ---- Planted outliers: present, and function-preserving ----

using Weights = std::map<std::string, at::Tensor>;

// The stored weights of one layer, as float64.
Weights layer_weights(const io::ModelConfig& c, bool outliers, int64_t layer) {
  Weights w;
  for (const WeightRecipe& r : synthetic_weight_recipes(c, 11, false, outliers)) {
    if (r.layer != layer) continue;
    w[r.name.substr(r.name.find('.', 13) + 1)] = synthesize_stored_rows(r, 11, 0, r.rows()).data.to(at::kDouble);
  }
  return w;
}

at::Tensor rms_normalize(const at::Tensor& x) { return x * at::rsqrt(x.pow(2).mean(-1, true) + 1e-5); }
at::Tensor apply_linear(const at::Tensor& x, const at::Tensor& w) { return at::matmul(x, w.t()); }
at::Tensor gated_mlp(const Weights& w, const std::string& p, const at::Tensor& x) {
  return apply_linear(
      at::silu(apply_linear(x, w.at(p + "gate_proj.weight"))) * apply_linear(x, w.at(p + "up_proj.weight")),
      w.at(p + "down_proj.weight"));
}

// Planting multiplies and divides by powers of two, exact in BF16 and float64: the planted and the
// unplanted layer compute the same values up to float64 summation rounding.
constexpr double kPreservedRelTol = 1e-12;
constexpr int64_t kTokens = 64;

void expect_same(const at::Tensor& planted, const at::Tensor& plain, const std::string& what) {
  const double rel = ((planted - plain).abs().max() / plain.abs().max()).item<double>();
  EXPECT_LE(rel, kPreservedRelTol) << what;
}

// max / median over channels of the column norms of `h` [tokens, channels].
double outlier_ratio(const at::Tensor& h) {
  at::Tensor norms = h.pow(2).sum(0).sqrt();
  return (norms.max() / norms.median()).item<double>();
}

TEST(SyntheticOutliers, LlamaPlantingIsPresentAndPreservesTheFunction) {
  const io::ModelConfig c = config_of(SyntheticPreset::kTiny, ModelFamily::kLlama);
  at::manual_seed(1);
  const at::Tensor x = at::randn({kTokens, c.hidden_size}, at::kDouble);
  const int64_t group = c.num_attention_heads / c.num_key_value_heads;
  for (int64_t layer = 0; layer < c.num_hidden_layers; ++layer) {
    const Weights on = layer_weights(c, true, layer);
    const Weights off = layer_weights(c, false, layer);
    const at::Tensor h_on = rms_normalize(x) * on.at("input_layernorm.weight");
    const at::Tensor h_off = rms_normalize(x) * off.at("input_layernorm.weight");
    EXPECT_GT(outlier_ratio(h_on), 10.0) << "layer " << layer << ": planted channels dominate the norm output";
    EXPECT_LT(outlier_ratio(h_off), 2.5) << "layer " << layer;
    for (const char* proj : {"q_proj", "k_proj"}) {
      const std::string name = str("self_attn.", proj, ".weight");
      expect_same(apply_linear(h_on, on.at(name)), apply_linear(h_off, off.at(name)), str("layer ", layer, " ", proj));
    }
    // v_proj's planted rows make outlier channels in v itself; o_proj's columns undo them.
    EXPECT_GT(outlier_ratio(apply_linear(h_on, on.at("self_attn.v_proj.weight"))), 5.0) << "layer " << layer;
    // Attention mixes each value channel within its head, so o_proj(repeat_kv(v)) checks the v -> o planting.
    auto v_to_o = [&](const Weights& w, const at::Tensor& h) {
      at::Tensor v =
          apply_linear(h, w.at("self_attn.v_proj.weight")).view({kTokens, c.num_key_value_heads, 1, c.head_dim});
      v = v.expand({kTokens, c.num_key_value_heads, group, c.head_dim}).reshape({kTokens, -1});
      return apply_linear(v, w.at("self_attn.o_proj.weight"));
    };
    expect_same(v_to_o(on, h_on), v_to_o(off, h_off), str("layer ", layer, " v -> o"));
    const at::Tensor m_on = rms_normalize(x) * on.at("post_attention_layernorm.weight");
    const at::Tensor m_off = rms_normalize(x) * off.at("post_attention_layernorm.weight");
    EXPECT_GT(outlier_ratio(m_on), 10.0);
    expect_same(gated_mlp(on, "mlp.", m_on), gated_mlp(off, "mlp.", m_off), str("layer ", layer, " mlp"));
    const at::Tensor up_on = apply_linear(m_on, on.at("mlp.up_proj.weight"));
    EXPECT_GT(outlier_ratio(up_on), 5.0) << "planted up_proj rows give down_proj's input outlier channels";
  }
}

TEST(SyntheticOutliers, DeepseekPlantingPreservesTheFunction) {
  const io::ModelConfig c = config_of(SyntheticPreset::kTiny, ModelFamily::kDeepseekV3);
  at::manual_seed(2);
  const at::Tensor x = at::randn({kTokens, c.hidden_size}, at::kDouble);
  const int64_t heads = c.num_attention_heads;
  for (int64_t layer : {0, 1}) {
    const Weights on = layer_weights(c, true, layer);
    const Weights off = layer_weights(c, false, layer);
    auto attention_paths = [&](const Weights& w) {
      const at::Tensor h = rms_normalize(x) * w.at("input_layernorm.weight");
      const at::Tensor q_a = apply_linear(h, w.at("self_attn.q_a_proj.weight"));
      const at::Tensor q =
          apply_linear(rms_normalize(q_a) * w.at("self_attn.q_a_layernorm.weight"), w.at("self_attn.q_b_proj.weight"));
      const at::Tensor ckv = apply_linear(h, w.at("self_attn.kv_a_proj_with_mqa.weight"));
      const at::Tensor kv =
          apply_linear(rms_normalize(ckv.slice(1, 0, c.kv_lora_rank)) * w.at("self_attn.kv_a_layernorm.weight"),
                       w.at("self_attn.kv_b_proj.weight"))
              .view({kTokens, heads, c.qk_nope_head_dim + c.v_head_dim});
      const at::Tensor k_nope = kv.slice(2, 0, c.qk_nope_head_dim);
      const at::Tensor o =
          apply_linear(kv.slice(2, c.qk_nope_head_dim).reshape({kTokens, -1}), w.at("self_attn.o_proj.weight"));
      return std::vector<at::Tensor>{q, ckv, k_nope, o};
    };
    const auto a_on = attention_paths(on);
    const auto a_off = attention_paths(off);
    const char* names[] = {"q", "kv_a", "k_nope", "v -> o"};
    for (int i = 0; i < 4; ++i) expect_same(a_on[i], a_off[i], str("layer ", layer, " ", names[i]));
    EXPECT_GT(outlier_ratio(rms_normalize(x) * on.at("input_layernorm.weight")), 10.0);

    const at::Tensor m_on = rms_normalize(x) * on.at("post_attention_layernorm.weight");
    const at::Tensor m_off = rms_normalize(x) * off.at("post_attention_layernorm.weight");
    if (!c.is_moe_layer(layer)) {
      expect_same(gated_mlp(on, "mlp.", m_on), gated_mlp(off, "mlp.", m_off), str("layer ", layer, " mlp"));
      continue;
    }
    expect_same(apply_linear(m_on, on.at("mlp.gate.weight")), apply_linear(m_off, off.at("mlp.gate.weight")),
                "router logits");
    EXPECT_TRUE(at::equal(on.at("mlp.gate.e_score_correction_bias"), off.at("mlp.gate.e_score_correction_bias")));
    for (int64_t e = 0; e < c.n_routed_experts; ++e) {
      const std::string p = str("mlp.experts.", e, ".");
      expect_same(gated_mlp(on, p, m_on), gated_mlp(off, p, m_off), str("layer ", layer, " expert ", e));
    }
    expect_same(gated_mlp(on, "mlp.shared_experts.", m_on), gated_mlp(off, "mlp.shared_experts.", m_off),
                "shared experts");
  }
}

}  // namespace
}  // namespace fq::model
