// The CUDA LWC + weight fake-quantization kernels against their CPU reference (forward bit for bit; the
// backward's row sums run in another order), and the calibration's weight side on CUDA (the fused autograd
// node) against the ATen composition it replaces.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "kernels/weight_clip_quant_ops.h"
#include "lib/quant/clipped_weight_quant.h"
#include "lib/quant/learnable_clip.h"
#include "tests/support/cuda_required.h"
#include "tests/support/kernel_inputs.h"

namespace fq::kernels {
namespace {

// Row sums of a backward in another order (warp tree vs sequential) move the gradients of the clip factors
// and of each row's argmax / argmin element: bound on ||gpu - cpu|| / ||cpu|| per tensor.
constexpr double kFloat32GradRelTol = 1e-5;
// bf16 gradients: those elements round to bf16 after sums that differ in the last float32 bits: a flip
// moves one element by one bf16 step (2^-8 relative).
constexpr double kBf16GradRelTol = 1e-2;
// The fused node against the CPU reference with the factors' sigmoid chain applied by hand: the same
// formula, so only the backward's row-sum order differs (bf16 weights: kBf16GradRelTol).
// Against ATen's own composition on CUDA the agreement is looser, and not because of the kernels: ATen's
// CUDA division by a scalar multiplies by its reciprocal (the scale's `/ maxq` can land one ulp away from the
// CPU's true division, moving a row's values and, rarely, a code), and the composition rounds its
// intermediate gradients to bf16 several times, which shows most in d/ds, a sum of small rounding residuals
// (c - z - wc / s). Measured on an H100 (2026-12-07): forward 2e-3 (asymmetric) / 8e-3 (symmetric), weight
// gradients 1e-3, logit gradients 3e-3 to 7e-3.
constexpr double kVsCudaCompositionForwardRelTol = 2e-2;
constexpr double kVsCudaCompositionGradRelTol = 1e-1;

double rel_norm(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor a64 = a.cpu().to(at::kDouble), b64 = b.cpu().to(at::kDouble);
  return ((a64 - b64).norm() / b64.norm().clamp_min(1e-30)).item<double>();
}

at::Tensor factors(int64_t rows, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return at::sigmoid(at::rand({rows}, gen, at::TensorOptions().dtype(at::kFloat)) * 4);
}

// Weight rows with outliers; row 0 all zero, row 1 all positive (edge rows of the quantizer).
at::Tensor weight(int64_t rows, int64_t k, at::ScalarType dtype, uint64_t seed) {
  at::Tensor w = test::activations_with_outliers(rows, k, seed);
  if (rows > 2) {
    w[0].zero_();
    w[1] = w[1].abs() + 0.125;
  }
  return w.to(dtype);
}

TEST(WeightClipQuantGpu, MatchesTheCpuReference) {
  FQ_REQUIRE_CUDA();
  const at::Device cuda(at::kCUDA);
  int checked = 0;
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    for (int64_t k : {8, 24, 2048, 7168}) {
      for (int bits : {4, 8}) {
        for (bool symmetric : {true, false}) {
          for (bool clip : {true, false}) {
            const int64_t rows = k >= 2048 ? 67 : 301;  // not a multiple of the 8 rows of a block
            const std::string what = std::string(dtype == at::kFloat ? "f32" : "bf16") + " k=" + std::to_string(k) +
                                     " w" + std::to_string(bits) + (symmetric ? " sym" : " asym") +
                                     (clip ? " lwc" : "");
            const at::Tensor w = weight(rows, k, dtype, 100 + k + bits);
            const at::Tensor cM = clip ? factors(rows, 1) : at::Tensor(), cm = clip ? factors(rows, 2) : at::Tensor();
            const WeightQuantRule rule{bits, symmetric};
            auto on_gpu = [&](const at::Tensor& t) { return t.defined() ? t.to(cuda) : t; };
            const at::Tensor ref = weight_clip_fake_quant_cpu(w, cM, cm, rule);
            const at::Tensor got = weight_clip_fake_quant(w.to(cuda), on_gpu(cM), on_gpu(cm), rule);
            EXPECT_TRUE(at::equal(got.cpu(), ref)) << what << ": forward differs";

            at::Generator gen = at::detail::createCPUGenerator(7);
            const at::Tensor g = at::randn({rows, k}, gen, at::TensorOptions().dtype(at::kFloat)).to(dtype);
            const WeightClipQuantGrads rg = weight_clip_fake_quant_backward_cpu(g, w, cM, cm, rule);
            const WeightClipQuantGrads gg =
                weight_clip_fake_quant_backward(g.to(cuda), w.to(cuda), on_gpu(cM), on_gpu(cm), rule);
            const double tol = dtype == at::kFloat ? kFloat32GradRelTol : kBf16GradRelTol;
            EXPECT_LE(rel_norm(gg.w, rg.w), tol) << what << ": grad w";
            if (clip) {
              EXPECT_LE(rel_norm(gg.clip_max, rg.clip_max), tol) << what << ": grad clip_max";
              EXPECT_LE(rel_norm(gg.clip_min, rg.clip_min), tol) << what << ": grad clip_min";
            }
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, 64);
}

// The calibration's expert weights: bf16 [experts, out, in] after the transform, per-expert LWC logits.
TEST(WeightClipQuantGpu, FusedNodeHasTheReferenceGradients) {
  FQ_REQUIRE_CUDA();
  const at::Device cuda(at::kCUDA);
  const int64_t experts = 6, out = 96, in = 512;
  for (bool symmetric : {false, true}) {
    const quant::QuantSpec spec{4, symmetric, 0};
    const at::Tensor w0 = weight(experts * out, in, at::kBFloat16, 5).view({experts, out, in});
    at::Generator gen = at::detail::createCPUGenerator(9);
    const at::Tensor lmax0 = at::rand({experts, out, 1}, gen) * 4, lmin0 = at::rand({experts, out, 1}, gen) * 2;
    const at::Tensor g = at::randn({experts, out, in}, gen).to(at::kBFloat16);
    struct Result {
      at::Tensor y, grad_w, grad_max, grad_min;
    };
    // The node (fused) or ATen's composition, on CUDA, through autograd.
    auto run = [&](bool fused) {
      at::Tensor w = w0.to(cuda).requires_grad_(true);
      at::Tensor lmax = lmax0.to(cuda).requires_grad_(true), lmin = lmin0.to(cuda).requires_grad_(true);
      const quant::ClipFactors clip{at::sigmoid(lmax), at::sigmoid(lmin)};
      at::Tensor y = fused ? quant::clip_and_fake_quantize_weight(w, clip, spec)
                           : quant::fake_quantize_weight(quant::clip_rows(w, clip), spec);
      (y.to(at::kFloat) * g.to(cuda).to(at::kFloat)).sum().backward();
      return Result{y.detach().cpu(), w.grad().cpu(), lmax.grad().cpu(), lmin.grad().cpu()};
    };
    ASSERT_TRUE(quant::fused_weight_quant_applies(w0.to(cuda), spec));
    const Result f = run(true), c = run(false);
    // The reference on the CPU, with d sigmoid(l) / dl = s (1 - s) applied here.
    const at::Tensor smax = at::sigmoid(lmax0), smin = at::sigmoid(lmin0);
    const WeightQuantRule rule{4, symmetric};
    const at::Tensor rows = w0.reshape({-1, in});
    const at::Tensor y_ref = weight_clip_fake_quant_cpu(rows, smax.reshape({-1}), smin.reshape({-1}), rule);
    const WeightClipQuantGrads r = weight_clip_fake_quant_backward_cpu(g.reshape({-1, in}), rows, smax.reshape({-1}),
                                                                       smin.reshape({-1}), rule);
    const std::string what = symmetric ? "symmetric" : "asymmetric";
    EXPECT_TRUE(at::equal(f.y, y_ref.view(f.y.sizes()))) << what << ": forward differs from the reference";
    EXPECT_LE(rel_norm(f.grad_w, r.w.view(f.grad_w.sizes())), kBf16GradRelTol) << what << ": grad w";
    EXPECT_LE(rel_norm(f.grad_max, r.clip_max.view(smax.sizes()) * smax * (1 - smax)), kBf16GradRelTol)
        << what << ": grad clip_max logits";
    EXPECT_LE(rel_norm(f.grad_min, r.clip_min.view(smin.sizes()) * smin * (1 - smin)), kBf16GradRelTol)
        << what << ": grad clip_min logits";
    EXPECT_GT(f.grad_max.abs().sum().item<double>(), 0.0) << what;
    std::printf("[weight quant gpu] %s vs CUDA composition: forward %.2e, grad w %.2e, logits %.2e / %.2e\n",
                what.c_str(), rel_norm(f.y, c.y), rel_norm(f.grad_w, c.grad_w), rel_norm(f.grad_max, c.grad_max),
                rel_norm(f.grad_min, c.grad_min));
    EXPECT_LE(rel_norm(f.y, c.y), kVsCudaCompositionForwardRelTol) << what;
    EXPECT_LE(rel_norm(f.grad_w, c.grad_w), kVsCudaCompositionGradRelTol) << what;
    EXPECT_LE(rel_norm(f.grad_max, c.grad_max), kVsCudaCompositionGradRelTol) << what;
    EXPECT_LE(rel_norm(f.grad_min, c.grad_min), kVsCudaCompositionGradRelTol) << what;
  }
}

}  // namespace
}  // namespace fq::kernels
