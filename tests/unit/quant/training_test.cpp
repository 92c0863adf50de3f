// Gradients, orthogonality under training, and the learning test of the FlatQuant core.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>

#include "lib/quant/affine_transform.h"
#include "lib/quant/calibration_optimizer.h"
#include "lib/quant/learnable_clip.h"
#include "lib/quant/quantized_linear.h"

namespace fq::quant {
namespace {

at::TensorOptions f64() { return at::TensorOptions().dtype(at::kDouble); }
at::TensorOptions f32() { return at::TensorOptions().dtype(at::kFloat); }

// Central finite differences of `loss` w.r.t. every element of `param`, against autograd.
void expect_gradient_matches_fd(const std::function<at::Tensor()>& loss, at::Tensor param, const std::string& what) {
  constexpr double kEps = 1e-6;
  constexpr double kTol = 1e-6;  // relative to the gradient's norm, float64
  if (param.grad().defined()) param.mutable_grad().zero_();
  loss().backward();
  at::Tensor analytic = param.grad().clone();
  at::Tensor numeric = at::zeros_like(analytic);
  at::Tensor flat = param.detach().view({-1});
  for (int64_t i = 0; i < flat.numel(); ++i) {
    const double orig = flat[i].item<double>();
    double plus, minus;
    {
      at::NoGradGuard ng;
      flat[i] = orig + kEps;
      plus = loss().item<double>();
      flat[i] = orig - kEps;
      minus = loss().item<double>();
      flat[i] = orig;
    }
    numeric.view({-1})[i] = (plus - minus) / (2 * kEps);
  }
  const double scale = std::max(1e-12, analytic.norm().item<double>());
  EXPECT_GT(analytic.abs().max().item<double>(), 0) << what << ": no gradient";
  EXPECT_LT((analytic - numeric).norm().item<double>() / scale, kTol) << what;
}

TEST(Gradients, TransformParametersMatchFiniteDifferences) {
  at::Generator gen = at::detail::createCPUGenerator(11);
  for (auto param : {TransformParam::kOrthogonal, TransformParam::kDirectInverse}) {
    AffineTransform t = AffineTransform::kronecker(2, 3, param, /*diag_scale=*/true, gen, f64());
    {
      at::NoGradGuard ng;
      t.diag_parameters()[0].copy_(at::rand({6}, gen, f64()) + 0.5);
    }
    at::Tensor x = at::randn({4, 6}, gen, f64());
    at::Tensor w = at::randn({5, 6}, gen, f64());
    at::Tensor target = at::randn({4, 5}, gen, f64());
    // A smooth loss through both sides of the transform (x P and W P^{-T}, squared so that the exact
    // cancellation x P P^{-1} W^T does not hide the gradients).
    auto loss = [&]() {
      TransformMatrices m = t.matrices();
      at::Tensor xs = m.apply(x), ws = m.apply_inverse_transpose(w);
      return (at::matmul(xs * xs, (ws * ws).t()) - target).pow(2).sum();
    };
    for (auto& [name, p] : t.named_parameters()) expect_gradient_matches_fd(loss, p, name);
  }
}

TEST(Gradients, ClippingLogitsMatchFiniteDifferences) {
  at::Generator gen = at::detail::createCPUGenerator(12);
  at::Tensor w = at::randn({3, 8}, gen, f64());
  WeightClip lwc({3}, f64());
  {
    at::NoGradGuard ng;
    for (auto& p : lwc.parameters()) p.copy_(at::randn({3, 1}, gen, f64()));  // away from saturation
  }
  auto lwc_loss = [&]() { return (lwc.apply(w) * at::arange(8, f64())).pow(2).sum(); };
  for (auto& [name, p] : lwc.named_parameters()) expect_gradient_matches_fd(lwc_loss, p, "lwc " + name);

  ActivationQuantizer act({4, false, 0}, true, f64());
  at::Tensor x = at::randn({5, 8}, gen, f64());
  auto lac_loss = [&]() {
    QuantParams p = activation_quant_params(x, act.spec(), act.factors());
    return (p.scale * at::arange(1, 6, f64()).unsqueeze(1)).pow(2).sum();
  };
  for (auto& [name, p] : act.named_parameters()) expect_gradient_matches_fd(lac_loss, p, "lac " + name);
}

TEST(Gradients, QuantizedForwardReachesEveryTrainableParameter) {
  at::Generator gen = at::detail::createCPUGenerator(13);
  AffineTransform t = AffineTransform::kronecker(32, TransformParam::kOrthogonal, true, gen, f32());
  QuantizedLinear lin({16, 32}, LinearQuantOptions{}, nullptr, f32());
  at::Tensor x = at::randn({64, 32}, gen, f32());
  at::Tensor w = at::randn({16, 32}, gen, f32());
  TransformMatrices m = t.matrices();
  at::Tensor y = lin.forward(m.apply(x), m.apply_inverse_transpose(w));
  (y - at::matmul(x, w.t())).pow(2).mean().backward();
  for (auto& [name, p] : t.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_GT(p.grad().abs().sum().item<double>(), 0) << name;
  }
  for (auto& [name, p] : lin.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_GT(p.grad().abs().sum().item<double>(), 0) << name;
    EXPECT_TRUE(at::isfinite(p.grad()).all().item<bool>()) << name;
  }
}

TEST(Orthogonality, CayleyFactorsStayOrthogonalAfterTraining) {
  at::Generator gen = at::detail::createCPUGenerator(14);
  AffineTransform t = AffineTransform::kronecker(8, 12, TransformParam::kOrthogonal, false, gen, f32());
  TrainableParameters params{t.transform_parameters(), {}, {}};
  CalibrationOptimizer opt(params, {5e-2, 50, false});
  at::Tensor x = at::randn({32, 96}, gen, f32());
  at::Tensor target = at::randn({32, 96}, gen, f32());
  for (int step = 0; step < 50; ++step) opt.step((t.matrices().apply(x) - target).pow(2).mean());
  // The factors moved...
  TransformMatrices frozen = t.freeze();
  // ...but U and V of each factor are still orthogonal (checked in float64 on the trained parameters).
  for (auto& [name, p] : t.named_parameters()) {
    if (name.find("_free") == std::string::npos) continue;
    at::Tensor q = p.detach().to(at::kDouble);
    at::Tensor lower = q.tril();
    at::Tensor a = lower - lower.t();
    at::Tensor eye = at::eye(q.size(0), f64());
    at::Tensor u = at::linalg_solve(eye - 0.5 * a, eye + 0.5 * a);
    EXPECT_LT((at::matmul(u.t(), u) - eye).abs().max().item<double>(), 1e-6) << name;
  }
  EXPECT_GT((frozen.right - at::eye(12, f64())).abs().max().item<double>(), 1e-3);
}

// Micro-batches with accumulated gradients make the update of the whole batch: float64 parameters, four
// parts of 8 rows against one batch of 32, five steps; equal to 1e-12 (only the summation order differs).
TEST(CalibrationOptimizer, MicroBatchesMakeTheWholeBatchUpdate) {
  auto make = [] {
    at::Generator gen = at::detail::createCPUGenerator(21);
    return AffineTransform::kronecker(8, 12, TransformParam::kOrthogonal, true, gen, f64());
  };
  AffineTransform whole = make(), parts = make();
  CalibrationOptimizer whole_opt({whole.transform_parameters(), whole.diag_parameters(), {}}, {5e-2, 5, false});
  CalibrationOptimizer parts_opt({parts.transform_parameters(), parts.diag_parameters(), {}}, {5e-2, 5, false});
  at::Generator gen = at::detail::createCPUGenerator(22);
  const at::Tensor x = at::randn({32, 96}, gen, f64());
  const at::Tensor target = at::randn({32, 96}, gen, f64());
  auto loss = [&](AffineTransform& t, int64_t begin, int64_t n) {
    return (t.matrices().apply(x.narrow(0, begin, n)) - target.narrow(0, begin, n)).pow(2).mean();
  };
  for (int step = 0; step < 5; ++step) {
    const at::Tensor whole_loss = loss(whole, 0, 32);
    whole_opt.step(whole_loss);
    for (int64_t begin = 0; begin < 32; begin += 8) parts_opt.accumulate(loss(parts, begin, 8), 0.25);
    EXPECT_NEAR(parts_opt.step_accumulated(), whole_loss.item<double>(), 1e-12);
  }
  const TransformMatrices a = whole.freeze(), b = parts.freeze();
  EXPECT_GT((a.right - at::eye(12, f64())).abs().max().item<double>(), 1e-3);  // the steps moved it
  EXPECT_LT((a.right - b.right).abs().max().item<double>(), 1e-12);
  EXPECT_LT((a.left - b.left).abs().max().item<double>(), 1e-12);
  EXPECT_LT((a.diag - b.diag).abs().max().item<double>(), 1e-12);
}

TEST(Schedule, CosineToOneThousandthWithOptionalWarmup) {
  ScheduleOptions o{5e-3, 100, false};
  EXPECT_DOUBLE_EQ(schedule_factor(o, 0), 1.0);
  EXPECT_NEAR(schedule_factor(o, 50), 0.5 * (1 + 1e-3), 1e-12);
  EXPECT_NEAR(schedule_factor(o, 100), 1e-3, 1e-12);
  o.warmup = true;
  EXPECT_NEAR(schedule_factor(o, 0), 0.01, 1e-12);
  EXPECT_NEAR(schedule_factor(o, 16), schedule_factor({5e-3, 100, false}, 16), 1e-12);
}

// The learning test of the foundation issue: one linear layer with planted outlier input channels,
// W4A4. Calibrating the transform + LWC + LAC must lower the output MSE at least 5x below
// round-to-nearest within 200 steps (fixed seed, CPU).
TEST(Learning, FlatQuantBeatsRoundToNearestOnOutlierChannels) {
  constexpr double kRequiredRatio = 5.0;
  constexpr int kSteps = 200;
  at::manual_seed(0);
  at::Generator gen = at::detail::createCPUGenerator(2024);
  const int64_t tokens = 512, n = 256, out = 256;
  at::Tensor x = at::randn({tokens, n}, gen, f32());
  at::Tensor outlier_channels = at::tensor({3, 77, 140, 201}, at::kLong);
  x.index_select(1, outlier_channels);
  x.index_copy_(1, outlier_channels, x.index_select(1, outlier_channels) * 40.0);
  at::Tensor w = at::randn({out, n}, gen, f32()) * 0.05;
  at::Tensor y = at::matmul(x, w.t());

  LinearQuantOptions qopt;  // W4A4 symmetric, LWC + LAC
  QuantSpec spec = qopt.act;
  const double rtn_mse =
      (at::matmul(fake_quantize_activation(x, spec), fake_quantize_weight(w, qopt.weight).t()) - y)
          .pow(2).mean().item<double>();

  AffineTransform t = AffineTransform::kronecker(n, TransformParam::kOrthogonal, true, gen, f32());
  t.init_diag_smoothquant(w.abs().amax(0), x.abs().amax(0), 0.3);
  QuantizedLinear lin({out, n}, qopt, nullptr, f32());
  TrainableParameters params{t.transform_parameters(), t.diag_parameters(), lin.clip_parameters()};
  CalibrationOptimizer opt(params, {5e-3, kSteps, false});
  double mse = 0;
  for (int step = 0; step < kSteps; ++step) {
    TransformMatrices m = t.matrices();
    at::Tensor loss = (lin.forward(m.apply(x), m.apply_inverse_transpose(w)) - y).pow(2).mean();
    mse = loss.item<double>();
    opt.step(loss);
  }
  {
    at::NoGradGuard ng;
    TransformMatrices m = t.matrices();
    mse = (lin.forward(m.apply(x), m.apply_inverse_transpose(w)) - y).pow(2).mean().item<double>();
  }
  const double ratio = rtn_mse / mse;
  std::printf("[learning] W4A4 output MSE: round-to-nearest %.4e, FlatQuant after %d steps %.4e, ratio %.1fx\n",
              rtn_mse, kSteps, mse, ratio);
  EXPECT_GE(ratio, kRequiredRatio);
}

}  // namespace
}  // namespace fq::quant
