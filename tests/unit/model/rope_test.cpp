#include "lib/model/rope.h"

#include <cmath>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/error.h"
#include "tests/support/shared_dir.h"
#include "tests/support/random_layers.h"
#include "tests/unit/model/reference_forward.h"

namespace fq::model {
namespace {

// The check values are printed to 7-8 significant digits: half a unit of the 7th, relative.
constexpr double kCheckValueRelTol = 5e-7;
// Float32 tables and rotation vs float64 math.
constexpr double kRotationF32Tol = 1e-5;

TEST(Rope, YarnReproducesReferenceCheckValues) {
  FQ_REQUIRE_SHARED();
  const io::ModelConfig c = io::parse_model_config(fq::test::shared_path("models/tiny-deepseek-v3/config.json"));
  const RotaryEmbedding rope = RotaryEmbedding::for_model(c);
  ASSERT_EQ(rope.dim(), 16);
  EXPECT_DOUBLE_EQ(rope.attention_factor(), 1.0);
  EXPECT_NEAR(attention_softmax_scale(c), 0.18713034, 0.18713034 * kCheckValueRelTol);
  const at::Tensor f = rope.inv_freq();
  ASSERT_EQ(f.scalar_type(), at::kFloat);
  ASSERT_EQ(f.numel(), 8);
  const double expected_head[] = {1.0, 0.25693506, 0.0625, 0.01383497};
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(f[i].item<double>(), expected_head[i], expected_head[i] * kCheckValueRelTol) << "k=" << i;
  }
  EXPECT_NEAR(f[6].item<double>(), 2.5e-4, 2.5e-4 * kCheckValueRelTol);
  EXPECT_NEAR(f[7].item<double>(), 7.905695e-5, 7.905695e-5 * kCheckValueRelTol);
}

TEST(Rope, TablesApplyTheAttentionFactor) {
  io::RopeConfig r;
  r.attention_factor = 1.25;
  const RopeTables t = RotaryEmbedding(r, 16).tables(3, at::kFloat, at::kCPU);
  EXPECT_FLOAT_EQ(t.cos[0][0].item<float>(), 1.25f);  // cos(0) * factor
  EXPECT_FLOAT_EQ(t.sin[0][0].item<float>(), 0.0f);
  EXPECT_NEAR(t.sin[1][0].item<double>(), 1.25 * std::sin(1.0), 1e-6);  // position 1, inv_freq[0] = 1
}

TEST(Rope, DefaultAndLinearFrequencies) {
  io::RopeConfig r;
  r.theta = 10000.0;
  const RotaryEmbedding plain(r, 8);
  r.type = io::RopeType::kLinear;
  r.factor = 2.0;
  const RotaryEmbedding linear(r, 8);
  for (int k = 0; k < 4; ++k) {
    const double expected = std::pow(10000.0, -2.0 * k / 8);
    EXPECT_NEAR(plain.inv_freq()[k].item<double>(), expected, expected * 1e-6);
    EXPECT_NEAR(linear.inv_freq()[k].item<double>(), expected / 2, expected * 1e-6);
  }
}

TEST(Rope, Llama3MatchesPiecewiseDefinition) {
  const io::ModelConfig c = test::small_llama_config();
  const RotaryEmbedding rope = RotaryEmbedding::for_model(c);
  const double orig = static_cast<double>(c.rope.original_max_position_embeddings);
  const double lo = orig / c.rope.low_freq_factor, hi = orig / c.rope.high_freq_factor;
  int regimes[3] = {0, 0, 0};
  for (int64_t k = 0; k < c.head_dim / 2; ++k) {
    const double base = std::pow(c.rope.theta, -2.0 * k / c.head_dim);
    const double wavelen = 2 * 3.14159265358979323846 / base;
    double expected;
    if (wavelen > lo) {
      expected = base / c.rope.factor, ++regimes[0];
    } else if (wavelen < hi) {
      expected = base, ++regimes[1];
    } else {
      const double s = (orig / wavelen - c.rope.low_freq_factor) / (c.rope.high_freq_factor - c.rope.low_freq_factor);
      expected = (1 - s) * base / c.rope.factor + s * base, ++regimes[2];
    }
    EXPECT_NEAR(rope.inv_freq()[k].item<double>(), expected, expected * 1e-5) << "k=" << k;
  }
  // The config is chosen so that every regime is exercised.
  EXPECT_GT(regimes[0], 0);
  EXPECT_GT(regimes[1], 0);
  EXPECT_GT(regimes[2], 0);
}

TEST(Rope, ApplyRotaryRotatesHalvesAndInterleavedPairs) {
  const io::ModelConfig c = test::small_deepseek_config(true);
  const RotaryEmbedding rope = RotaryEmbedding::for_model(c);
  at::manual_seed(7);
  const at::Tensor x = at::randn({2, 3, 10, rope.dim()});
  const RopeTables t = rope.tables(10, at::kFloat, at::kCPU);
  const at::Tensor inv = rope.inv_freq().to(at::kDouble);
  EXPECT_LT(test::relative_l2(apply_rotary(x, t), test::ref_rotate(x, inv, rope.attention_factor(), false)),
            kRotationF32Tol);
  // Interleaved pairs: de-interleave then rotate equals rotating the pairs in place, then de-interleaving.
  const at::Tensor expected = deinterleave_pairs(test::ref_rotate(x, inv, rope.attention_factor(), true));
  EXPECT_LT(test::relative_l2(apply_rotary(deinterleave_pairs(x), t), expected), kRotationF32Tol);
  // deinterleave_pairs is the permutation (0, 2, 4, ..., 1, 3, 5, ...).
  const at::Tensor idx = deinterleave_pairs(at::arange(8, at::kFloat).view({1, 8}));
  const float order[] = {0, 2, 4, 6, 1, 3, 5, 7};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(idx[0][i].item<float>(), order[i]);
}

TEST(Rope, TablesCastToComputeDtype) {
  const RotaryEmbedding rope = RotaryEmbedding::for_model(test::small_llama_config());
  const RopeTables t = rope.tables(5, at::kBFloat16, at::kCPU);
  EXPECT_EQ(t.cos.scalar_type(), at::kBFloat16);
  EXPECT_EQ(t.sin.sizes(), (std::vector<int64_t>{5, 16}));
}

TEST(Rope, RejectsBadParameters) {
  io::RopeConfig r;
  EXPECT_THROW(RotaryEmbedding(r, 7), fq::Error);
  r.type = io::RopeType::kLlama3;
  r.original_max_position_embeddings = 0;
  EXPECT_THROW(RotaryEmbedding(r, 8), fq::Error);
  r.type = io::RopeType::kYarn;
  EXPECT_THROW(RotaryEmbedding(r, 8), fq::Error);
}

}  // namespace
}  // namespace fq::model
