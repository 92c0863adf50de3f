// The fused LWC + weight fake-quantization formula (kernels/weight_clip_quant.h) against the ATen composition
// it replaces on the GPU (clip_rows, then fake_quantize_weight, differentiated by autograd): its CPU reference
// must give the composition's forward bit for bit and its gradients to float64 rounding.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/weight_clip_quant_ops.h"
#include "lib/core/error.h"
#include "lib/quant/clipped_weight_quant.h"
#include "lib/quant/learnable_clip.h"

namespace fq::quant {
namespace {

// Weight rows like a transformed LLM weight: N(0, 1) with per-row scales over two decades, an outlier column
// every 29, and edge rows (all zero, all positive, all negative, one outlier). Never all-zero as a whole.
at::Tensor weight_rows(int64_t rows, int64_t k, at::ScalarType dtype, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::Tensor w = at::randn({rows, k}, gen, at::TensorOptions().dtype(at::kDouble));
  w = w * at::exp(at::rand({rows, 1}, gen, at::TensorOptions().dtype(at::kDouble)) * 4.6 - 2.3);
  w.index_put_({at::indexing::Slice(), at::indexing::Slice(0, at::indexing::None, 29)},
               w.index({at::indexing::Slice(), at::indexing::Slice(0, at::indexing::None, 29)}) * 12);
  if (rows >= 5) {
    w[0].zero_();
    w[1] = w[1].abs() + 0.25;
    w[2] = -w[2].abs() - 0.5;
    w[3] = w[3] * 1e-3;
    w[3][k / 2] = 9.0;
  }
  return w.to(dtype);
}

// LWC factors sigmoid(logit) for logits in [0, 4] (factors 0.5 .. 0.982): many elements get clamped.
at::Tensor clip_factors(int64_t rows, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return at::sigmoid(at::rand({rows}, gen, at::TensorOptions().dtype(at::kFloat)) * 4);
}

at::Tensor composition(const at::Tensor& w, const at::Tensor& cM, const at::Tensor& cm, const QuantSpec& spec) {
  const at::Tensor clipped = cM.defined() ? clip_rows(w, {cM.unsqueeze(1), cm.unsqueeze(1)}) : w;
  return fake_quantize_weight(clipped, spec);
}

struct Case {
  int bits;
  bool symmetric;
  bool clip;
  std::string name() const {
    return "w" + std::to_string(bits) + (symmetric ? " sym" : " asym") + (clip ? " lwc" : " no-lwc");
  }
};

std::vector<Case> cases() {
  std::vector<Case> out;
  for (int bits : {3, 4, 8})
    for (bool symmetric : {true, false})
      for (bool clip : {true, false}) out.push_back({bits, symmetric, clip});
  return out;
}

TEST(WeightClipQuantReference, ForwardIsTheCompositionBitForBit) {
  for (at::ScalarType dtype : {at::kDouble, at::kFloat, at::kBFloat16}) {
    for (const Case& c : cases()) {
      const at::Tensor w = weight_rows(40, 72, dtype, 11 + c.bits);
      const at::Tensor cM = c.clip ? clip_factors(40, 3) : at::Tensor();
      const at::Tensor cm = c.clip ? clip_factors(40, 4) : at::Tensor();
      const QuantSpec spec{c.bits, c.symmetric, 0};
      const at::Tensor ours = kernels::weight_clip_fake_quant_cpu(w, cM, cm, {c.bits, c.symmetric});
      // The composition clips bf16 weights in bf16 with bf16 factors, as the module does.
      const at::Tensor ref = composition(w, cM.defined() ? cM.to(dtype) : cM, cm.defined() ? cm.to(dtype) : cm, spec);
      ASSERT_EQ(ours.scalar_type(), dtype);
      EXPECT_TRUE(at::equal(ours, ref)) << c.name() << " " << dtype << ": max diff "
                                        << (ours.to(at::kDouble) - ref.to(at::kDouble)).abs().max().item<double>();
    }
  }
}

// Gradients of sum(out * g) through the composition by autograd, and by the reference's backward.
void expect_gradients_match(at::ScalarType dtype, double tolerance) {
  for (const Case& c : cases()) {
    const int64_t rows = 40, k = 72;
    const at::Tensor w0 = weight_rows(rows, k, dtype, 21 + c.bits);
    at::Generator gen = at::detail::createCPUGenerator(5);
    const at::Tensor g = at::randn({rows, k}, gen, at::TensorOptions().dtype(dtype));
    const QuantSpec spec{c.bits, c.symmetric, 0};
    at::Tensor w = w0.clone().requires_grad_(true);
    at::Tensor cM, cm;
    if (c.clip) {
      cM = clip_factors(rows, 6).to(dtype).requires_grad_(true);
      cm = clip_factors(rows, 7).to(dtype).requires_grad_(true);
    }
    (composition(w, cM, cm, spec) * g).sum().backward();
    const kernels::WeightClipQuantGrads ours = kernels::weight_clip_fake_quant_backward_cpu(
        g, w0, c.clip ? cM.detach() : at::Tensor(), c.clip ? cm.detach() : at::Tensor(), {c.bits, c.symmetric});
    auto rel = [](const at::Tensor& a, const at::Tensor& b) {
      return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item<double>();
    };
    EXPECT_LE(rel(ours.w, w.grad()), tolerance) << c.name() << " " << dtype << ": grad w";
    EXPECT_GT(w.grad().abs().sum().item<double>(), 0.0) << c.name();
    if (c.clip) {
      EXPECT_LE(rel(ours.clip_max, cM.grad()), tolerance) << c.name() << " " << dtype << ": grad clip_max";
      EXPECT_LE(rel(ours.clip_min, cm.grad()), tolerance) << c.name() << " " << dtype << ": grad clip_min";
      EXPECT_GT(cM.grad().abs().sum().item<double>(), 0.0) << c.name() << ": LWC gets no gradient";
    }
  }
}

// float64: only the summation order differs. float32: sums of 72 terms in another order.
TEST(WeightClipQuantReference, BackwardIsTheCompositionsAutogradFloat64) { expect_gradients_match(at::kDouble, 1e-12); }
TEST(WeightClipQuantReference, BackwardIsTheCompositionsAutogradFloat32) { expect_gradients_match(at::kFloat, 1e-5); }

TEST(WeightClipQuantReference, ClipAndFakeQuantizeOnTheCpuIsTheComposition) {
  const at::Tensor w = weight_rows(3 * 16, 40, at::kFloat, 9).view({3, 16, 40});
  const at::Tensor f = clip_factors(3 * 16, 8).view({3, 16, 1});
  const QuantSpec spec{4, false, 0};
  EXPECT_FALSE(fused_weight_quant_applies(w, spec));
  EXPECT_TRUE(at::equal(clip_and_fake_quantize_weight(w, {f, f}, spec), fake_quantize_weight(clip_rows(w, {f, f}), spec)));
  EXPECT_TRUE(at::equal(clip_and_fake_quantize_weight(w, {}, QuantSpec{}), w));  // 16 bits: not quantized
}

TEST(WeightClipQuantReference, RejectsBadOperandsNamingThem) {
  const at::Tensor w = weight_rows(8, 16, at::kFloat, 1);
  auto message = [](const auto& call) {
    try {
      call();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([&] { kernels::weight_clip_fake_quant_cpu(w, w.select(1, 0), at::Tensor(), {4, true}); })
                .find("clip_max and clip_min"),
            std::string::npos);
  EXPECT_NE(message([&] { kernels::weight_clip_fake_quant_cpu(w, at::ones({7}), at::ones({7}), {4, true}); })
                .find("clip_max"),
            std::string::npos);
  EXPECT_NE(message([&] { kernels::weight_clip_fake_quant_cpu(w, {}, {}, {9, true}); }).find("bits"),
            std::string::npos);
  EXPECT_NE(message([&] { kernels::weight_clip_fake_quant_cpu(w.flatten(), {}, {}, {4, true}); }).find("'w'"),
            std::string::npos);
  EXPECT_NE(message([&] { kernels::weight_clip_fake_quant_backward_cpu(w.t(), w, {}, {}, {4, true}); })
                .find("grad_out"),
            std::string::npos);
}

}  // namespace
}  // namespace fq::quant
