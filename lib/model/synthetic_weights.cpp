#include "lib/model/synthetic_weights.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "lib/core/error.h"
#include "lib/core/fingerprint.h"
#include "lib/io/fp8_e4m3.h"

namespace fq::model {
namespace {

constexpr std::uint64_t kGolden = 0x9e3779b97f4a7c15ull;

// splitmix64's output function: a bijective mix of a 64-bit counter.
std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Value n of stream `key`: splitmix64 seeded at `key`.
std::uint64_t stream_value(std::uint64_t key, std::uint64_t n) { return mix64(key + (n + 1) * kGolden); }

std::uint64_t stream_key(std::uint64_t seed, const std::string& name) {
  return mix64(Fingerprint().add(seed).add(name).value());
}

// Outlier channels per planted site: a handful, as in real LLMs (a few massive channels of thousands).
int64_t outlier_count(int64_t dim) { return std::min<int64_t>(dim, std::clamp<int64_t>(dim / 64, 2, 8)); }

// `count` distinct channels of [0, dim), chosen by stream `key`.
std::vector<int64_t> pick_channels(std::uint64_t key, int64_t dim, int64_t count) {
  std::vector<int64_t> picked;
  for (std::uint64_t n = 0; static_cast<int64_t>(picked.size()) < count; ++n) {
    const int64_t c = static_cast<int64_t>(stream_value(key, n) % static_cast<std::uint64_t>(dim));
    if (std::find(picked.begin(), picked.end(), c) == picked.end()) picked.push_back(c);
  }
  return picked;
}

// Factors 16, 32 or 64: powers of two so that scaling is exact in every float format.
std::vector<ChannelScale> with_factors(std::uint64_t key, const std::vector<int64_t>& channels) {
  std::vector<ChannelScale> out;
  for (std::size_t i = 0; i < channels.size(); ++i) {
    out.push_back({channels[i], std::ldexp(1.0f, 4 + static_cast<int>(stream_value(key, i) % 3))});
  }
  return out;
}

std::vector<ChannelScale> inverse(const std::vector<ChannelScale>& scales) {
  std::vector<ChannelScale> out = scales;
  for (ChannelScale& s : out) s.factor = 1.0f / s.factor;
  return out;
}

// Builds the recipe list; every planted site draws from its own stream, named after the tensor it plants.
class RecipeBuilder {
 public:
  RecipeBuilder(std::uint64_t seed, bool fp8, bool outliers) : seed_(seed), fp8_(fp8), outliers_(outliers) {}

  // Scaled channels for `site` over `dim` channels (empty when outliers are off): the channels drawn for
  // `channels_site` (e.g. the hidden outlier channels all layers share, as in real LLMs), the factors for
  // `site`.
  std::vector<ChannelScale> plant_on(const std::string& site, const std::string& channels_site, int64_t dim) const {
    if (!outliers_) return {};
    return with_factors(stream_key(seed_, "factors:" + site),
                        pick_channels(stream_key(seed_, "channels:" + channels_site), dim, outlier_count(dim)));
  }
  std::vector<ChannelScale> plant(const std::string& site, int64_t dim) const { return plant_on(site, site, dim); }

  void norm(const std::string& name, int64_t n, int64_t layer, std::vector<ChannelScale> rows = {}) {
    add({name, {n}, io::StDtype::kBF16, 1.0f, 0.1f, std::move(rows), {}, layer});
  }
  void linear(const std::string& name, int64_t out, int64_t in, int64_t layer, std::vector<ChannelScale> rows = {},
              std::vector<ChannelScale> cols = {}) {
    const io::StDtype dtype = (fp8_ && layer >= 0) ? io::StDtype::kF8E4M3 : io::StDtype::kBF16;
    add({name, {out, in}, dtype, 0.0f, 0.02f, std::move(rows), std::move(cols), layer});
  }
  // High-precision 2-D weights that stay BF16 even in FP8 checkpoints (the MoE router).
  void router(const std::string& name, int64_t out, int64_t in, int64_t layer, std::vector<ChannelScale> cols) {
    add({name, {out, in}, io::StDtype::kBF16, 0.0f, 0.02f, {}, std::move(cols), layer});
  }
  void bias_f32(const std::string& name, int64_t n, int64_t layer) {
    add({name, {n}, io::StDtype::kF32, 0.0f, 0.01f, {}, {}, layer});
  }

  // A gated MLP (dense, shared experts, or one routed expert) under `prefix` reading `in_scales`-planted input.
  void gated_mlp(const std::string& prefix, int64_t hidden, int64_t inter, int64_t layer,
                 const std::vector<ChannelScale>& in_scales) {
    const std::vector<ChannelScale> up_rows = plant(prefix + "up_proj", inter);
    linear(prefix + "gate_proj.weight", inter, hidden, layer, {}, inverse(in_scales));
    linear(prefix + "up_proj.weight", inter, hidden, layer, up_rows, inverse(in_scales));
    linear(prefix + "down_proj.weight", hidden, inter, layer, {}, inverse(up_rows));
  }

  std::vector<WeightRecipe> take() { return std::move(recipes_); }

 private:
  void add(WeightRecipe r) { recipes_.push_back(std::move(r)); }

  std::uint64_t seed_;
  bool fp8_;
  bool outliers_;
  std::vector<WeightRecipe> recipes_;
};

void llama_layer(RecipeBuilder& b, const io::ModelConfig& c, int64_t layer) {
  const std::string p = str("model.layers.", layer, ".");
  const int64_t h = c.hidden_size;
  const int64_t hd = c.head_dim;
  const int64_t group = c.num_attention_heads / c.num_key_value_heads;
  const auto attn_in = b.plant_on(p + "input_layernorm", "hidden", h);
  const auto mlp_in = b.plant_on(p + "post_attention_layernorm", "hidden", h);
  // A planted value row (kv head g, dim d) reaches o_proj through every query head of group g.
  const auto v_rows = b.plant(p + "self_attn.v_proj", c.num_key_value_heads * hd);
  std::vector<ChannelScale> o_cols;
  for (const ChannelScale& s : v_rows) {
    const int64_t kv_head = s.index / hd;
    for (int64_t q = kv_head * group; q < (kv_head + 1) * group; ++q) {
      o_cols.push_back({q * hd + s.index % hd, 1.0f / s.factor});
    }
  }
  b.norm(p + "input_layernorm.weight", h, layer, attn_in);
  b.linear(p + "self_attn.q_proj.weight", c.num_attention_heads * hd, h, layer, {}, inverse(attn_in));
  b.linear(p + "self_attn.k_proj.weight", c.num_key_value_heads * hd, h, layer, {}, inverse(attn_in));
  b.linear(p + "self_attn.v_proj.weight", c.num_key_value_heads * hd, h, layer, v_rows, inverse(attn_in));
  b.linear(p + "self_attn.o_proj.weight", h, c.num_attention_heads * hd, layer, {}, o_cols);
  b.norm(p + "post_attention_layernorm.weight", h, layer, mlp_in);
  b.gated_mlp(p + "mlp.", h, c.intermediate_size, layer, mlp_in);
}

void deepseek_layer(RecipeBuilder& b, const io::ModelConfig& c, int64_t layer) {
  const std::string p = str("model.layers.", layer, ".");
  const int64_t h = c.hidden_size;
  const int64_t heads = c.num_attention_heads;
  const int64_t nope = c.qk_nope_head_dim;
  const int64_t vd = c.v_head_dim;
  const auto attn_in = b.plant_on(p + "input_layernorm", "hidden", h);
  const auto mlp_in = b.plant_on(p + "post_attention_layernorm", "hidden", h);
  b.norm(p + "input_layernorm.weight", h, layer, attn_in);
  if (c.q_lora_rank > 0) {
    const auto qa_norm = b.plant(p + "self_attn.q_a_layernorm", c.q_lora_rank);
    b.linear(p + "self_attn.q_a_proj.weight", c.q_lora_rank, h, layer, {}, inverse(attn_in));
    b.norm(p + "self_attn.q_a_layernorm.weight", c.q_lora_rank, layer, qa_norm);
    b.linear(p + "self_attn.q_b_proj.weight", heads * c.qk_head_dim(), c.q_lora_rank, layer, {}, inverse(qa_norm));
  } else {
    b.linear(p + "self_attn.q_proj.weight", heads * c.qk_head_dim(), h, layer, {}, inverse(attn_in));
  }
  b.linear(p + "self_attn.kv_a_proj_with_mqa.weight", c.kv_lora_rank + c.qk_rope_head_dim, h, layer, {},
           inverse(attn_in));
  b.norm(p + "self_attn.kv_a_layernorm.weight", c.kv_lora_rank, layer);
  // Value channel (head, d) is row head * (nope + v) + nope + d of kv_b_proj and column head * v + d of o_proj.
  const auto v_channels = b.plant(p + "self_attn.kv_b_proj", heads * vd);
  std::vector<ChannelScale> kv_b_rows;
  for (const ChannelScale& s : v_channels) {
    kv_b_rows.push_back({s.index / vd * (nope + vd) + nope + s.index % vd, s.factor});
  }
  b.linear(p + "self_attn.kv_b_proj.weight", heads * (nope + vd), c.kv_lora_rank, layer, kv_b_rows);
  b.linear(p + "self_attn.o_proj.weight", h, heads * vd, layer, {}, inverse(v_channels));
  b.norm(p + "post_attention_layernorm.weight", h, layer, mlp_in);
  if (!c.is_moe_layer(layer)) {
    b.gated_mlp(p + "mlp.", h, c.intermediate_size, layer, mlp_in);
    return;
  }
  // The router reads the post-attention norm output too, so its columns carry the inverse scales as well.
  b.router(p + "mlp.gate.weight", c.n_routed_experts, h, layer, inverse(mlp_in));
  b.bias_f32(p + "mlp.gate.e_score_correction_bias", c.n_routed_experts, layer);
  for (int64_t e = 0; e < c.n_routed_experts; ++e) {
    b.gated_mlp(str(p, "mlp.experts.", e, "."), h, c.moe_intermediate_size, layer, mlp_in);
  }
  if (c.n_shared_experts > 0) {
    b.gated_mlp(p + "mlp.shared_experts.", h, c.moe_intermediate_size * c.n_shared_experts, layer, mlp_in);
  }
}

// out[i, j] *= row factor of i, column factor of j (rows counted from row_begin).
void apply_scales(const WeightRecipe& r, int64_t row_begin, int64_t row_end, float* data) {
  const int64_t cols = r.cols();
  for (const ChannelScale& s : r.row_scales) {
    if (s.index < row_begin || s.index >= row_end) continue;
    float* row = data + (s.index - row_begin) * cols;
    for (int64_t j = 0; j < cols; ++j) row[j] *= s.factor;
  }
  if (r.col_scales.empty()) return;
  for (int64_t i = 0; i < row_end - row_begin; ++i) {
    for (const ChannelScale& s : r.col_scales) data[i * cols + s.index] *= s.factor;
  }
}

}  // namespace

void fill_standard_normal(std::uint64_t key, std::uint64_t first, float* out, int64_t count) {
  constexpr float kTwoPi = 6.2831853f;
  constexpr float k24Bit = 1.0f / 16777216.0f;
  // Element i belongs to pair i / 2, whose two normals come from one 64-bit hash (Box-Muller on two
  // 24-bit uniforms). Float math: generation speed bounds make-model, and the values only need to be
  // reproducible by the same build.
  at::parallel_for(0, count, 1 << 15, [&](int64_t lo, int64_t hi) {
    for (std::uint64_t pair = (first + lo) / 2; pair * 2 < first + hi; ++pair) {
      const std::uint64_t bits = stream_value(key, pair);
      const float u1 = (static_cast<float>(bits >> 40) + 1.0f) * k24Bit;  // (0, 1]
      const float u2 = static_cast<float>((bits >> 16) & 0xFFFFFF) * k24Bit;
      const float radius = std::sqrt(-2.0f * std::log(u1));
      const float angle = kTwoPi * u2;
      const std::uint64_t even = pair * 2;
      if (even >= first + lo) out[even - first] = radius * std::cos(angle);
      if (even + 1 < first + hi) out[even + 1 - first] = radius * std::sin(angle);
    }
  });
}

int64_t WeightRecipe::cols() const { return shape.size() == 2 ? shape[1] : 1; }

std::uint64_t WeightRecipe::stored_bytes() const {
  std::uint64_t bytes = io::st_dtype_bytes(dtype);
  for (int64_t d : shape) bytes *= static_cast<std::uint64_t>(d);
  if (dtype == io::StDtype::kF8E4M3) {
    bytes += 4 * static_cast<std::uint64_t>(((rows() + kSyntheticFp8Block - 1) / kSyntheticFp8Block) *
                                            ((cols() + kSyntheticFp8Block - 1) / kSyntheticFp8Block));
  }
  return bytes;
}

std::vector<WeightRecipe> synthetic_weight_recipes(const io::ModelConfig& config, std::uint64_t seed, bool fp8,
                                                   bool outliers) {
  RecipeBuilder b(seed, fp8, outliers);
  const int64_t h = config.hidden_size;
  b.linear("model.embed_tokens.weight", config.vocab_size, h, -1);
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    if (config.family == io::ModelFamily::kLlama) {
      llama_layer(b, config, layer);
    } else {
      deepseek_layer(b, config, layer);
    }
  }
  b.norm("model.norm.weight", h, -1);
  if (!config.tie_word_embeddings) b.linear("lm_head.weight", config.vocab_size, h, -1);
  return b.take();
}

at::Tensor synthesize_rows(const WeightRecipe& recipe, std::uint64_t seed, int64_t row_begin, int64_t row_end) {
  FQ_ASSERT(0 <= row_begin && row_begin <= row_end && row_end <= recipe.rows(), recipe.name, " rows ", row_begin, "..",
            row_end);
  const int64_t cols = recipe.cols();
  std::vector<int64_t> shape = recipe.shape;
  shape[0] = row_end - row_begin;
  at::Tensor out = at::empty(shape, at::kFloat);
  float* data = out.data_ptr<float>();
  const int64_t count = out.numel();
  fill_standard_normal(stream_key(seed, recipe.name), static_cast<std::uint64_t>(row_begin * cols), data, count);
  out.mul_(recipe.std).add_(recipe.mean);
  apply_scales(recipe, row_begin, row_end, data);
  return out;
}

StoredRows synthesize_stored_rows(const WeightRecipe& recipe, std::uint64_t seed, int64_t row_begin, int64_t row_end) {
  at::Tensor values = synthesize_rows(recipe, seed, row_begin, row_end);
  switch (recipe.dtype) {
    case io::StDtype::kBF16:
      return {values.to(at::kBFloat16), {}};
    case io::StDtype::kF32:
      return {values, {}};
    case io::StDtype::kF8E4M3: {
      FQ_ASSERT(row_begin % kSyntheticFp8Block == 0, recipe.name, ": FP8 rows must start on a block boundary");
      io::Fp8Blocks q = io::fp8_block_quantize(values, kSyntheticFp8Block, kSyntheticFp8Block);
      return {q.codes, q.scale_inv};
    }
    default:
      FQ_ASSERT(false, recipe.name, ": no synthetic weights of type ", io::st_dtype_name(recipe.dtype));
  }
  return {};
}

}  // namespace fq::model
