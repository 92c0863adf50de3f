// The cheap int4 coder of the quantizing kernels against quantize_value, the definition they must match bit
// for bit: random rows with outlier channels, quotients at and around every rounding boundary, clipped and
// asymmetric rows, and the rows that must fall back to the division.
#include "kernels/int4_coder.h"

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace fq::kernels {
namespace {

uint32_t reference_code(float v, const TokenQuantParams& p) { return static_cast<uint32_t>(quantize_value(v, p)) & 0xFu; }

TokenQuantParams params_of(const std::vector<float>& row, const TokenQuantConfig& cfg) {
  float mx = 0.0f, mn = 0.0f;
  for (float v : row) mx = std::fmax(mx, v), mn = std::fmin(mn, v);
  return token_quant_params(mx, mn, cfg);
}

// Every element of `row` coded both ways; returns the number of mismatches (the first few are reported).
int mismatches(const std::vector<float>& row, const TokenQuantParams& p, const std::string& what) {
  int bad = 0;
  with_int4_coder(p, [&](const auto& code) {
    for (float v : row) {
      const uint32_t got = code(v) & 0xFu, want = reference_code(v, p);
      if (got != want && ++bad <= 3) {
        ADD_FAILURE() << what << ": v=" << v << " scale=" << p.scale << " zero=" << p.zero << " code " << got
                      << ", quantize_value " << want;
      }
    }
  });
  return bad;
}

std::vector<TokenQuantConfig> configs() {
  return {{4, true, 1.0f, 1.0f}, {4, true, 0.83f, 0.83f}, {4, false, 1.0f, 1.0f}, {4, false, 0.9f, 0.71f},
          {4, true, 0.37f, 0.6f}};
}

TEST(Int4Coder, RandomRowsWithOutliersMatchQuantizeValue) {
  std::mt19937 gen(20261207);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> magnitude(-6.0f, 6.0f);
  for (const TokenQuantConfig& cfg : configs()) {
    for (int r = 0; r < 200; ++r) {
      std::vector<float> row(512);
      const float unit = std::exp2(magnitude(gen));
      for (float& v : row) v = unit * normal(gen);
      for (int o = 0; o < 4; ++o) row[(37 * o + r) % row.size()] *= 40.0f;  // outlier channels
      if (cfg.symmetric || r % 2 == 0) {
        for (float& v : row) v = std::fabs(v);  // one-sided rows: the asymmetric zero at an end
      }
      const TokenQuantParams p = params_of(row, cfg);
      ASSERT_TRUE(reciprocal_coder_exact(p.scale)) << "scale " << p.scale;
      ASSERT_EQ(mismatches(row, p, "random row " + std::to_string(r)), 0);
    }
  }
}

// Quotients exactly on a rounding boundary (k + 1/2) and the floats a few ulps either side, where a
// quotient off by one ulp would round the other way.
TEST(Int4Coder, QuotientsAtAndAroundEveryBoundaryMatchQuantizeValue) {
  std::mt19937 gen(7);
  std::uniform_int_distribution<int> mantissa(1 << 16, (1 << 17) - 1);  // 17 bits: (k + 1/2) * scale is exact
  std::uniform_int_distribution<int> exponent(-40, 40);
  int checked = 0;
  for (const TokenQuantConfig& cfg : configs()) {
    for (int s = 0; s < 100; ++s) {
      const float scale = std::ldexp(static_cast<float>(mantissa(gen)), exponent(gen) - 16);
      TokenQuantParams p;
      if (cfg.symmetric) {
        p = TokenQuantParams{scale, 0.0f, -8.0f, 7.0f};
      } else {
        p = TokenQuantParams{scale, static_cast<float>(s % 16), 0.0f, 15.0f};
      }
      std::vector<float> row;
      for (int k = -24; k <= 24; ++k) {
        const float tie = (static_cast<float>(k) + 0.5f) * scale;
        ASSERT_EQ(static_cast<double>(tie), (k + 0.5) * static_cast<double>(scale)) << "the tie is exact";
        float below = tie, above = tie;
        row.push_back(tie);
        for (int u = 0; u < 8; ++u) {
          below = std::nextafter(below, -std::numeric_limits<float>::infinity());
          above = std::nextafter(above, std::numeric_limits<float>::infinity());
          row.push_back(below);
          row.push_back(above);
        }
      }
      checked += static_cast<int>(row.size());
      ASSERT_EQ(mismatches(row, p, "scale " + std::to_string(scale)), 0);
    }
  }
  EXPECT_GT(checked, 10000);
}

// Why the correction: q = RN(v * RN(1 / scale)) alone rounds some quotients just below a boundary the other
// way, the error that the boundary sweep above would catch.
TEST(Int4Coder, AnUncorrectedReciprocalMissesBoundaries) {
  int differing = 0;
  for (int m = 1 << 16; m < (1 << 16) + 4000; ++m) {
    const float scale = std::ldexp(static_cast<float>(m), -16);
    const TokenQuantParams p{scale, 0.0f, -8.0f, 7.0f};
    const float inv = 1.0f / scale;
    for (int k = -8; k < 8; ++k) {
      float v = (static_cast<float>(k) + 0.5f) * scale;
      for (int u = 0; u < 3; ++u, v = std::nextafter(v, 0.0f)) {
        const float naive = std::fmin(std::fmax(std::rint(v * inv), p.qmin), p.qmax);
        differing += (static_cast<uint32_t>(static_cast<int>(naive)) & 0xFu) != reference_code(v, p);
      }
    }
  }
  EXPECT_GT(differing, 0);
}

TEST(Int4Coder, RowsOutsideTheExactRangeFallBackToTheDivision) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<std::vector<float>> rows = {
      {1.0f, -2.0f, inf, 0.5f, 3.0f, -inf, 0.0f, 2.5f},      // scale inf
      {1e-39f, -3e-39f, 2e-39f, 0.0f, 1e-45f, -1e-40f},       // subnormal max: 1 / scale overflows
      {1.0f, nan, -3.0f, 2.0f, nan, 0.25f, -0.5f, 7.0f},      // NaN elements, finite scale
      {0.0f, 0.0f, 0.0f, 0.0f},                               // all-zero row: scale 1
  };
  for (const TokenQuantConfig& cfg : configs()) {
    for (size_t i = 0; i < rows.size(); ++i) {
      const TokenQuantParams p = params_of(rows[i], cfg);
      EXPECT_EQ(mismatches(rows[i], p, "special row " + std::to_string(i)), 0);
    }
  }
  EXPECT_FALSE(reciprocal_coder_exact(inf));
  EXPECT_FALSE(reciprocal_coder_exact(nan));
  EXPECT_FALSE(reciprocal_coder_exact(1e-39f));
  EXPECT_TRUE(reciprocal_coder_exact(1e-30f));
}

TEST(Int4Coder, PairsPackTheFirstCodeIntoTheLowNibble) {
  EXPECT_EQ(int4_pair(0x3u, 0xAu), 0xA3u);
  EXPECT_EQ(int4_pair(0xFFFFFFF8u, 0x12345u), 0x58u);  // only the low nibbles count
}

}  // namespace
}  // namespace fq::kernels
