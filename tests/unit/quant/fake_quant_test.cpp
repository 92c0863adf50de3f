#include "lib/quant/fake_quant.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/error.h"
#include "lib/quant/quant_spec.h"

namespace fq::quant {
namespace {

at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }

TEST(QuantSpec, RejectsInvalidBitsAndGroups) {
  for (int bits : {0, 1, 9, 12, 32}) {
    EXPECT_THROW((QuantSpec{bits, true, 0}.validate("w")), Error) << bits;
  }
  EXPECT_THROW((QuantSpec{4, true, -1}.validate("a")), Error);
  EXPECT_THROW((QuantSpec{4, true, 48}.validate_for(128, "kv")), Error);
  EXPECT_NO_THROW((QuantSpec{4, false, 64}.validate_for(128, "kv")));
  EXPECT_NO_THROW((QuantSpec{16, true, 0}.validate("off")));
}

TEST(FakeQuant, SymmetricGridAndRangeForEveryBitWidth) {
  at::Generator gen = at::detail::createCPUGenerator(1);
  for (int bits = 2; bits <= 8; ++bits) {
    QuantSpec spec{bits, true, 0};
    at::Tensor x = at::randn({16, 64}, gen, f64()) * 3;
    QuantParams p = activation_quant_params(x, spec);
    // scale = max(|min|, max) / (2^(b-1) - 1) per row
    at::Tensor expect_scale = x.abs().amax(1, true) / ((1 << (bits - 1)) - 1);
    EXPECT_TRUE(at::allclose(p.scale, expect_scale, 1e-12, 0)) << bits;
    at::Tensor codes = quantize_codes(x, p, spec).to(at::kDouble);
    EXPECT_GE(codes.min().item<double>(), -(1 << (bits - 1)));
    EXPECT_LE(codes.max().item<double>(), (1 << (bits - 1)) - 1);
    // fake quant = codes * scale, and lies on the grid within half a step of x (no clipping here)
    at::Tensor fq = fake_quantize(x, p, spec);
    EXPECT_TRUE(at::allclose(fq, codes * p.scale, 0, 1e-12));
    EXPECT_LE(((fq - x).abs() / p.scale).max().item<double>(), 0.5 + 1e-9);
  }
}

TEST(FakeQuant, AsymmetricZeroPointAndRange) {
  at::Generator gen = at::detail::createCPUGenerator(2);
  for (int bits : {2, 3, 4, 8}) {
    QuantSpec spec{bits, false, 0};
    at::Tensor x = at::randn({8, 32}, gen, f64()) + 0.7;
    QuantParams p = activation_quant_params(x, spec);
    at::Tensor xmax = x.amax(1, true).clamp_min(0), xmin = x.amin(1, true).clamp_max(0);
    at::Tensor scale = (xmax - xmin) / ((1 << bits) - 1);
    EXPECT_TRUE(at::allclose(p.scale, scale, 1e-12, 0));
    EXPECT_TRUE(at::equal(p.zero, at::round(-xmin / scale)));
    at::Tensor codes = quantize_codes(x, p, spec).to(at::kDouble);
    EXPECT_GE(codes.min().item<double>(), 0);
    EXPECT_LE(codes.max().item<double>(), (1 << bits) - 1);
    EXPECT_TRUE(at::allclose(dequantize_codes(quantize_codes(x, p, spec), p, spec), fake_quantize(x, p, spec)));
  }
}

TEST(FakeQuant, AllZeroRowsFollowTheReference) {
  at::Tensor x = at::zeros({3, 8}, f64());
  x[1] = at::linspace(-1, 1, 8, f64());
  QuantParams sym = activation_quant_params(x, {4, true, 0});
  EXPECT_EQ(sym.scale[0].item<double>(), 1.0);  // activation rule: zero row -> scale 1
  QuantParams asym = activation_quant_params(x, {4, false, 0});
  EXPECT_NEAR(asym.scale[0].item<double>(), 2.0 / 15, 1e-12);  // range [-1, 1]
  QuantParams w = weight_quant_params(x, {4, true, 0});
  EXPECT_NEAR(w.scale[0].item<double>(), 1e-5 / 7, 1e-18);  // weight rule: clamp >= 1e-5
  EXPECT_TRUE(at::equal(fake_quantize_activation(x, {4, true, 0})[0], x[0]));
  EXPECT_TRUE(at::equal(fake_quantize_weight(x, {4, false, 0})[2], x[2]));
}

TEST(FakeQuant, GroupsQuantizeIndependently) {
  at::Generator gen = at::detail::createCPUGenerator(3);
  QuantSpec spec{4, false, 16};
  at::Tensor x = at::randn({2, 5, 64}, gen, f64());
  x.select(2, 3).mul_(100);  // an outlier inside the first group only
  at::Tensor fq = fake_quantize_activation(x, spec);
  EXPECT_EQ(fq.sizes(), x.sizes());
  for (int64_t g = 0; g < 4; ++g) {
    at::Tensor part = x.slice(2, g * 16, (g + 1) * 16);
    EXPECT_TRUE(at::allclose(fq.slice(2, g * 16, (g + 1) * 16), fake_quantize_activation(part, {4, false, 0})));
  }
  EXPECT_THROW(fake_quantize_activation(x, {4, false, 48}), Error);
}

// The frozen-weight form gives fake_quantize's values (at::equal: a zero may differ in sign only) for weights
// with outlier channels, every rounding tie k + 1/2, per channel and in groups, symmetric and asymmetric, 2-8
// bits, float64 and float32, all-zero rows included.
TEST(FakeQuant, NoGradFormEqualsTheStraightThroughForm) {
  at::manual_seed(17);
  for (const c10::ScalarType dtype : {at::kDouble, at::kFloat}) {
    at::Tensor w = at::randn({48, 64}, f64());
    w.select(1, 5).mul_(40);  // an outlier input channel
    w[3].zero_();
    // Row 7 at symmetric 4 bits: max |w| = 7 gives scale 1, so w / s = w and the ties k + 1/2 stay exact.
    w[7].narrow(0, 0, 14).copy_(at::arange(-7, 7, f64()) + 0.5);
    w[7][14] = 7.0;
    w[7].narrow(0, 15, 49).clamp_(-6.9, 6.9);
    w = w.to(dtype);
    for (const int bits : {2, 4, 8}) {
      for (const bool symmetric : {true, false}) {
        for (const int64_t group : {int64_t{0}, int64_t{16}}) {
          const QuantSpec spec{bits, symmetric, group};
          const QuantParams p = weight_quant_params(w, spec);
          const at::Tensor want = fake_quantize(w, p, spec);
          const at::Tensor got = fake_quantize_no_grad(w, p, spec);
          EXPECT_EQ(got.scalar_type(), dtype);
          EXPECT_TRUE(at::equal(got, want)) << "bits " << bits << (symmetric ? " sym" : " asym") << " group "
                                            << group << " " << dtype << ": max difference "
                                            << (got - want).abs().max().item<double>();
        }
      }
    }
  }
}

TEST(FakeQuant, StraightThroughGradientIsIdentityInsideTheRange) {
  at::Tensor x = at::linspace(-0.9, 0.9, 19, f64()).reshape({1, 19}).set_requires_grad(true);
  QuantSpec spec{4, true, 0};
  QuantParams p = activation_quant_params(x.detach(), spec);
  fake_quantize(x, p, spec).sum().backward();
  EXPECT_TRUE(at::allclose(x.grad(), at::ones_like(x)));
  at::Tensor y = at::tensor({2.7, -1.3}, f64()).set_requires_grad(true);
  round_ste(y).sum().backward();
  EXPECT_TRUE(at::allclose(y.grad(), at::ones_like(y)));
}

TEST(FakeQuant, ClipFactorsShrinkTheRange) {
  at::Generator gen = at::detail::createCPUGenerator(4);
  at::Tensor x = at::randn({4, 32}, gen, f64());
  ClipFactors clip{at::full({1}, 0.5, f64()), at::full({1}, 0.5, f64())};
  QuantParams p = activation_quant_params(x, {4, true, 0}, clip);
  EXPECT_TRUE(at::allclose(p.scale, x.abs().amax(1, true) * 0.5 / 7));
}

TEST(FakeQuant, MseGridNeverWorseThanPlainRtn) {
  at::Generator gen = at::detail::createCPUGenerator(5);
  at::Tensor w = at::randn({32, 128}, gen, f64());
  w.select(1, 0).mul_(20);
  QuantSpec spec{4, true, 0};
  auto err = [&](const QuantParams& p) { return (fake_quantize(w, p, spec) - w).abs().pow(2.4).sum(1); };
  at::Tensor plain = err(weight_quant_params(w, spec));
  at::Tensor mse = err(weight_quant_params_mse(w, spec));
  EXPECT_TRUE((mse <= plain + 1e-12).all().item<bool>());
  EXPECT_LT(mse.sum().item<double>(), plain.sum().item<double>());
}

// The activation quantizer recomputes its intermediates in backward (one autograd node): values and the
// gradients to x and to both clip factors equal those of the plain graph, in float64, to 1e-12 — for
// symmetric and asymmetric specs, per token and per group, with an all-zero row.
TEST(FakeQuant, RecomputedActivationQuantizerHasThePlainGraphsGradients) {
  for (const QuantSpec spec : {QuantSpec{4, true, 0}, QuantSpec{4, false, 0}, QuantSpec{3, false, 16}}) {
    at::Generator gen = at::detail::createCPUGenerator(41);
    at::Tensor x0 = at::randn({2, 6, 64}, gen, f64()) * 2;
    x0[0][1].zero_();
    const at::Tensor upstream = at::randn({2, 6, 64}, gen, f64());
    const at::Tensor logits0 = at::randn({2}, gen, f64()) + 2;
    auto run = [&](bool plain) {
      at::Tensor x = x0.clone().requires_grad_(true);
      at::Tensor logits = logits0.clone().requires_grad_(true);
      const ClipFactors clip{at::sigmoid(logits[0]), at::sigmoid(logits[1])};
      const at::Tensor y = plain ? fake_quantize(x, activation_quant_params(x, spec, clip), spec)
                                 : fake_quantize_activation(x, spec, clip);
      (y * upstream).sum().backward();
      return std::vector<at::Tensor>{y.detach(), x.grad(), logits.grad()};
    };
    const auto plain = run(true), recomputed = run(false);
    for (size_t i = 0; i < plain.size(); ++i) {
      ASSERT_TRUE(recomputed[i].defined()) << i;
      EXPECT_LT((plain[i] - recomputed[i]).abs().max().item<double>(), 1e-12) << "bits " << spec.bits << " output " << i;
    }
    EXPECT_GT(plain[2].abs().max().item<double>(), 0.0);  // the clip factors do receive a gradient
  }
}

}  // namespace
}  // namespace fq::quant
