// The CPU reference of per-token quantization against the definition evaluated in float64.
#include "kernels/cpu/per_token_quant_cpu.h"

#include <cmath>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/error.h"
#include "tests/support/kernel_inputs.h"

namespace fq::kernels {
namespace {

// The float32 scale may differ from the float64 one by the rounding of one division and one product.
constexpr double kScaleRelTol = 3e-7;
// Quotients this close to a rounding boundary may round either way between float32 and float64: skipped.
constexpr double kTieWindow = 1e-4;

double round_half_even(double v) { return std::nearbyint(v); }

struct Reference {
  double scale, zero, qmin, qmax;
};

Reference reference_params(const float* row, int64_t n, const TokenQuantConfig& cfg) {
  double mx = 0.0, mn = 0.0;
  for (int64_t j = 0; j < n; ++j) mx = std::max(mx, double(row[j])), mn = std::min(mn, double(row[j]));
  double xmax = mx * cfg.clip_max, xmin = mn * cfg.clip_min;
  if (cfg.symmetric) {
    const double qmax = std::pow(2.0, cfg.bits - 1) - 1;
    double s = std::max(std::fabs(xmin), xmax) / qmax;
    if (s == 0) s = 1;
    return {s, 0.0, -qmax - 1, qmax};
  }
  if (xmin == 0 && xmax == 0) xmin = -1, xmax = 1;
  const double qmax = std::pow(2.0, cfg.bits) - 1;
  const double s = (xmax - xmin) / qmax;
  return {s, round_half_even(-xmin / s), 0.0, qmax};
}

void expect_matches_definition(const at::Tensor& y, const TokenQuantConfig& cfg) {
  const QuantizedCodes q = quantize_rows_cpu(y, cfg);
  const int64_t rows = y.size(0), n = y.size(1);
  int64_t compared = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = y.data_ptr<float>() + r * n;
    const Reference ref = reference_params(row, n, cfg);
    const float scale = q.scale[r].item<float>();
    ASSERT_NEAR(scale, ref.scale, kScaleRelTol * ref.scale) << "row " << r << " bits " << cfg.bits;
    if (!cfg.symmetric) {
      EXPECT_EQ(q.zero[r].item<float>(), ref.zero) << "row " << r;
    }
    for (int64_t j = 0; j < n; ++j) {
      const double quotient = double(row[j]) / double(scale);
      if (std::fabs(std::fabs(quotient - std::floor(quotient)) - 0.5) < kTieWindow) continue;
      const double expected = std::clamp(round_half_even(quotient) + ref.zero, ref.qmin, ref.qmax);
      ASSERT_EQ(q.codes[r][j].item<int16_t>(), expected) << "row " << r << " col " << j << " y " << row[j];
      ++compared;
    }
  }
  EXPECT_GT(compared, rows * n * 9 / 10);
}

TEST(PerTokenQuantCpu, SymmetricMatchesFloat64DefinitionForAllBitWidths) {
  const at::Tensor y = fq::test::activations_with_outliers(17, 96, 1);
  for (int bits = 2; bits <= 8; ++bits) {
    TokenQuantConfig cfg;
    cfg.bits = bits;
    expect_matches_definition(y, cfg);
  }
}

TEST(PerTokenQuantCpu, AsymmetricMatchesFloat64DefinitionForAllBitWidths) {
  const at::Tensor y = fq::test::activations_with_outliers(17, 96, 2);
  for (int bits = 2; bits <= 8; ++bits) {
    TokenQuantConfig cfg;
    cfg.bits = bits;
    cfg.symmetric = false;
    expect_matches_definition(y, cfg);
  }
}

TEST(PerTokenQuantCpu, ClippingFactorsBelowOneClampTheLargestValues) {
  const at::Tensor y = fq::test::activations_with_outliers(9, 64, 3);
  for (bool symmetric : {true, false}) {
    TokenQuantConfig cfg;
    cfg.symmetric = symmetric;
    cfg.clip_max = 0.6f;
    cfg.clip_min = 0.8f;
    expect_matches_definition(y, cfg);
  }
  // max 10 clipped to 5: sym scale 5/7, 10 / s = 14 saturates at 7; asym [-0.8, 5] -> 26 + zero saturates at 15.
  const at::Tensor row = at::tensor({10.0f, -1.0f, 2.0f, 0.5f}, at::kFloat).unsqueeze(0);
  for (bool symmetric : {true, false}) {
    TokenQuantConfig cfg;
    cfg.symmetric = symmetric;
    cfg.clip_max = 0.5f;
    cfg.clip_min = 0.8f;
    const QuantizedCodes q = quantize_rows_cpu(row, cfg);
    EXPECT_EQ(q.codes[0][0].item<int16_t>(), symmetric ? 7 : 15) << "symmetric=" << symmetric;
    EXPECT_FLOAT_EQ(q.scale[0].item<float>(), symmetric ? 5.0f / 7.0f : 5.8f / 15.0f);
  }
}

TEST(PerTokenQuantCpu, AllZeroRowGetsUnitScaleOrTheUnitRange) {
  const at::Tensor y = at::zeros({2, 16}, at::kFloat);
  TokenQuantConfig sym;
  QuantizedCodes q = quantize_rows_cpu(y, sym);
  EXPECT_EQ(q.scale[0].item<float>(), 1.0f);
  EXPECT_EQ(q.codes.abs().max().item<int16_t>(), 0);

  TokenQuantConfig asym;
  asym.symmetric = false;
  q = quantize_rows_cpu(y, asym);
  const float s = 2.0f / 15.0f;  // xmin = -1, xmax = 1
  EXPECT_EQ(q.scale[1].item<float>(), s);
  // 1 / float(2/15) = 7.4999996 in float32 (as torch computes it): the zero point is 7, not rint(7.5) = 8.
  EXPECT_EQ(q.zero[1].item<float>(), std::nearbyint(1.0f / s));
  EXPECT_EQ(q.zero[1].item<float>(), 7.0f);
  EXPECT_EQ(q.codes.min().item<int16_t>(), 7);
  EXPECT_EQ(q.codes.max().item<int16_t>(), 7);
}

TEST(PerTokenQuantCpu, HalvesRoundToEven) {
  // max 7 -> scale exactly 1, so the quotients are the values themselves.
  const at::Tensor y = at::tensor({7.0f, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 3.5f}, at::kFloat).unsqueeze(0);
  const QuantizedCodes q = quantize_rows_cpu(y, TokenQuantConfig{});
  EXPECT_EQ(q.scale[0].item<float>(), 1.0f);
  const int expected[] = {7, 0, 2, 2, 0, -2, -2, 4};
  for (int j = 0; j < 8; ++j) EXPECT_EQ(q.codes[0][j].item<int16_t>(), expected[j]) << "element " << j;
}

TEST(PerTokenQuantCpu, DequantizeIsScaleTimesCodeMinusZero) {
  const at::Tensor y = fq::test::activations_with_outliers(5, 32, 4);
  for (bool symmetric : {true, false}) {
    TokenQuantConfig cfg;
    cfg.symmetric = symmetric;
    const QuantizedCodes q = quantize_rows_cpu(y, cfg);
    const at::Tensor d = dequantize_rows_cpu(q.codes, q.scale, q.zero);
    at::Tensor expected = q.codes.to(at::kFloat);
    if (!symmetric) expected = expected - q.zero.unsqueeze(1);
    expected = q.scale.unsqueeze(1) * expected;
    EXPECT_TRUE(at::equal(d, expected)) << "symmetric=" << symmetric;
    // Unclipped values are within half a step of their dequantized value.
    const at::Tensor err = (d - y).abs() / q.scale.unsqueeze(1);
    EXPECT_LE(err.max().item<float>(), 0.5f + 1e-5f) << "symmetric=" << symmetric;
  }
}

TEST(PerTokenQuantCpu, RejectsBadConfigurations) {
  const at::Tensor y = at::ones({1, 8}, at::kFloat);
  TokenQuantConfig cfg;
  cfg.bits = 9;
  EXPECT_THROW(quantize_rows_cpu(y, cfg), fq::Error);
  cfg = TokenQuantConfig{};
  cfg.clip_max = 0.0f;
  EXPECT_THROW(quantize_rows_cpu(y, cfg), fq::Error);
  cfg = TokenQuantConfig{};
  cfg.clip_min = 1.5f;
  try {
    quantize_rows_cpu(y, cfg);
    FAIL() << "expected an error";
  } catch (const fq::Error& e) {
    EXPECT_NE(std::string(e.what()).find("clip_min"), std::string::npos) << e.what();
  }
  try {
    quantize_rows_cpu(at::ones({8}, at::kFloat), TokenQuantConfig{});
    FAIL() << "expected an error";
  } catch (const fq::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'y'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace fq::kernels
