#include "lib/io/fp8_e4m3.h"

#include <cmath>
#include <limits>
#include <random>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "tests/support/expect_error.h"

namespace fq::io {
namespace {

// The E4M3 "fn" value of a code computed in float64 from the format's definition (REFERENCE.md 4).
double reference_value(int code) {
  const int s = code >> 7;
  const int e = (code >> 3) & 0xF;
  const int m = code & 0x7;
  if (e == 15 && m == 7) return std::numeric_limits<double>::quiet_NaN();
  const double magnitude = e == 0 ? std::pow(2.0, -6) * (m / 8.0) : std::pow(2.0, e - 7) * (1.0 + m / 8.0);
  return s ? -magnitude : magnitude;
}

bool is_nan_code(int code) { return (code & 0x7F) == 0x7F; }

// Nearest finite code by exhaustive search in float64, ties to the code with an even mantissa, magnitudes
// above 448 saturating: an encoder written without any bit tricks.
std::uint8_t reference_encode(double x) {
  if (std::isnan(x)) return 0x7F;
  x = std::max(-448.0, std::min(448.0, x));
  int best = -1;
  double best_err = 0;
  for (int c = 0; c < 256; ++c) {
    if (is_nan_code(c) || (std::signbit(reference_value(c)) != std::signbit(x))) continue;
    const double err = std::fabs(reference_value(c) - x);
    if (best < 0 || err < best_err || (err == best_err && (c & 1) == 0)) {
      best = c;
      best_err = err;
    }
  }
  return static_cast<std::uint8_t>(best);
}

TEST(Fp8E4M3, DecodesAll256CodesAsTheFloat64Formula) {
  for (int c = 0; c < 256; ++c) {
    const double want = reference_value(c);
    const float got = fp8_e4m3_to_float(static_cast<std::uint8_t>(c));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << "code " << c;
    } else {
      EXPECT_EQ(static_cast<double>(got), want) << "code " << c;
      EXPECT_EQ(std::signbit(got), c >= 128) << "code " << c;
    }
    EXPECT_FALSE(std::isinf(got)) << "E4M3fn has no infinities, code " << c;
  }
  EXPECT_EQ(fp8_e4m3_to_float(0x7E), 448.0f);
  EXPECT_EQ(fp8_e4m3_to_float(0xFE), -448.0f);
  EXPECT_EQ(fp8_e4m3_to_float(0x38), 1.0f);
  EXPECT_EQ(fp8_e4m3_to_float(0x08), std::ldexp(1.0f, -6));  // smallest normal
  EXPECT_EQ(fp8_e4m3_to_float(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(fp8_e4m3_to_float(0x78), 256.0f);                // exponent 15 is finite in "fn"

  at::Tensor codes = at::arange(256, at::kInt).to(at::kByte);
  at::Tensor decoded = fp8_e4m3_decode(codes);
  for (int c = 0; c < 256; ++c) {
    const float v = decoded[c].item<float>();
    if (is_nan_code(c)) {
      EXPECT_TRUE(std::isnan(v));
    } else {
      EXPECT_EQ(v, fp8_e4m3_to_float(static_cast<std::uint8_t>(c)));
    }
  }
}

TEST(Fp8E4M3, EncodeInvertsDecodeOnEveryFiniteCode) {
  for (int c = 0; c < 256; ++c) {
    if (is_nan_code(c)) continue;
    EXPECT_EQ(float_to_fp8_e4m3(fp8_e4m3_to_float(static_cast<std::uint8_t>(c))), c) << "code " << c;
  }
}

TEST(Fp8E4M3, EncodeRoundsHalfwayToEvenAndSaturates) {
  // Every midpoint between neighbouring positive codes (subnormal and normal) goes to the even code.
  for (int c = 0; c < 0x7E; ++c) {
    const double mid = (reference_value(c) + reference_value(c + 1)) / 2;
    const int even = (c % 2 == 0) ? c : c + 1;
    EXPECT_EQ(float_to_fp8_e4m3(static_cast<float>(mid)), even) << "midpoint after code " << c;
    EXPECT_EQ(float_to_fp8_e4m3(static_cast<float>(-mid)), even | 0x80) << "midpoint after code " << c;
  }
  EXPECT_EQ(float_to_fp8_e4m3(449.0f), 0x7E);
  EXPECT_EQ(float_to_fp8_e4m3(464.0f), 0x7E);
  EXPECT_EQ(float_to_fp8_e4m3(1e30f), 0x7E);
  EXPECT_EQ(float_to_fp8_e4m3(std::numeric_limits<float>::infinity()), 0x7E);
  EXPECT_EQ(float_to_fp8_e4m3(-std::numeric_limits<float>::infinity()), 0xFE);
  EXPECT_EQ(float_to_fp8_e4m3(std::nanf("")), 0x7F);
  EXPECT_EQ(float_to_fp8_e4m3(1e-30f), 0x00);
  EXPECT_EQ(float_to_fp8_e4m3(-0.0f), 0x80);
}

TEST(Fp8E4M3, EncodeMatchesExhaustiveNearestSearch) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> log_mag(-12.0, 9.5);  // 2^-12 .. ~2^9.5: subnormals to saturation
  std::vector<float> values;
  for (int i = 0; i < 20000; ++i) {
    const double v = std::pow(2.0, log_mag(rng)) * ((rng() & 1) ? 1 : -1);
    values.push_back(static_cast<float>(v));
  }
  at::Tensor encoded = fp8_e4m3_encode(at::tensor(values));
  const std::uint8_t* codes = encoded.data_ptr<std::uint8_t>();
  for (std::size_t i = 0; i < values.size(); ++i) {
    ASSERT_EQ(codes[i], reference_encode(values[i])) << "value " << values[i];
  }
}

// A naive float64 loop over W[i, j] = fp8(q[i, j]) * s[i / br, j / bc]. The product of two floats is exact
// in double, so rounding it to float gives the float32 product: equality is exact.
at::Tensor naive_dequantize(const at::Tensor& q, const at::Tensor& s, int64_t br, int64_t bc) {
  at::Tensor out = at::empty(q.sizes(), at::kFloat);
  auto qa = q.accessor<std::uint8_t, 2>();
  auto sa = s.accessor<float, 2>();
  auto oa = out.accessor<float, 2>();
  for (int64_t i = 0; i < q.size(0); ++i) {
    for (int64_t j = 0; j < q.size(1); ++j) {
      oa[i][j] = static_cast<float>(reference_value(qa[i][j]) * static_cast<double>(sa[i / br][j / bc]));
    }
  }
  return out;
}

at::Tensor finite_codes(std::vector<int64_t> shape, int seed) {
  at::manual_seed(seed);
  at::Tensor q = at::randint(0, 256, shape, at::kInt);
  q = at::where((q % 128) == 127, q - 1, q);  // no NaN codes
  return q.to(at::kByte);
}

TEST(Fp8BlockDequantize, PartialBlocksMatchNaiveLoop) {
  struct Case {
    int64_t rows, cols, br, bc;
  };
  for (const Case& c :
       {Case{300, 200, 128, 128}, Case{130, 129, 128, 128}, Case{40, 70, 16, 32}, Case{5, 3, 128, 128}}) {
    at::Tensor q = finite_codes({c.rows, c.cols}, 11);
    at::Tensor s = at::rand({(c.rows + c.br - 1) / c.br, (c.cols + c.bc - 1) / c.bc}).add_(0.01).mul_(1e-3);
    at::Tensor got = fp8_block_dequantize(q, s, c.br, c.bc, "test weight");
    at::Tensor want = naive_dequantize(q, s, c.br, c.bc);
    EXPECT_TRUE(at::equal(got, want)) << c.rows << "x" << c.cols << " in " << c.br << "x" << c.bc << " blocks";
  }
}

TEST(Fp8BlockDequantize, RefusesMismatchedScales) {
  at::Tensor q = finite_codes({300, 200}, 3);
  test::expect_error(
      [&] {
        fp8_block_dequantize(q, at::ones({2, 2}), 128, 128, "layer.w");
      },
      {"layer.w", "weight_scale_inv", "[3, 2]"});
  test::expect_error(
      [&] {
        fp8_block_dequantize(q, at::ones({3, 2}, at::kDouble), 128, 128, "layer.w");
      },
      {"layer.w", "float32"});
  test::expect_error(
      [&] {
        fp8_block_dequantize(q.to(at::kFloat), at::ones({3, 2}), 128, 128, "layer.w");
      },
      {"layer.w", "uint8"});
}

// E4M3 rounding bound for one element of a block with scale s: normal values lose at most half a unit in
// the last of 3 mantissa bits, 2^-4 relative; subnormals (below 2^-6 s) at most half their spacing,
// 2^-10 s. kDivisionSlack covers the float32 rounding of W / s before encoding.
constexpr double kE4M3RelativeBound = 1.0 / 16;
constexpr double kE4M3SubnormalBound = 1.0 / 1024;
constexpr double kDivisionSlack = 1e-6;

TEST(Fp8BlockQuantize, RoundTripWithinTheE4M3Bound) {
  at::manual_seed(5);
  at::Tensor w = at::randn({260, 300}).mul_(0.02);
  w.index_put_({at::indexing::Slice(), 7}, w.index({at::indexing::Slice(), 7}) * 50);  // an outlier column
  w.index_put_({at::indexing::Slice(0, 128), at::indexing::Slice(128, 256)}, 0.0);     // an all-zero block
  Fp8Blocks q = fp8_block_quantize(w, 128, 128);
  ASSERT_EQ(q.scale_inv.sizes(), (c10::IntArrayRef{3, 3}));
  EXPECT_EQ(q.scale_inv[0][1].item<float>(), 1.0f) << "an all-zero block gets scale 1";
  EXPECT_FLOAT_EQ(q.scale_inv[2][2].item<float>(),
                  w.slice(0, 256, 260).slice(1, 256, 300).abs().max().item<float>() / 448.0f);
  at::Tensor d = fp8_block_dequantize(q.codes, q.scale_inv, 128, 128, "w");
  auto wa = w.accessor<float, 2>();
  auto da = d.accessor<float, 2>();
  auto sa = q.scale_inv.accessor<float, 2>();
  for (int64_t i = 0; i < w.size(0); ++i) {
    for (int64_t j = 0; j < w.size(1); ++j) {
      const double x = wa[i][j];
      const double s = sa[i / 128][j / 128];
      const double bound = (kE4M3RelativeBound * std::fabs(x) + kE4M3SubnormalBound * s) * (1 + kDivisionSlack);
      ASSERT_LE(std::fabs(da[i][j] - x), bound) << "element " << i << "," << j;
    }
  }
}

}  // namespace
}  // namespace fq::io
