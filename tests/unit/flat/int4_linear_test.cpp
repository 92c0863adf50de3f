// The packed-int4 linears (Int4Linear, Int4Experts) against the fake-quant path they replace, on the CPU
// references of the kernels. The source of truth is the fake path evaluated in float64 on the same
// transformed input: both sides must produce the same integer codes (checked bit for bit), so outputs
// differ only by float rounding (bound below).
#include <cmath>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "kernels/cpu/kron_transform_cpu.h"
#include "kernels/int4_pack.h"
#include "kernels/quant_ops.h"
#include "lib/core/error.h"
#include "lib/flat/int4_linear.h"

namespace fq::flat {
namespace {

// |y_int4 - y_fake| <= kOutputRelTol * |y_fake| + kTermRelTol * sum_k |xq_k wq_k|:
//  - the int4 output is bf16: round-to-nearest costs 2^-9 relative, the float32 epilogue
//    (acc * s_a) * s_w two float32 roundings more; 2^-8 leaves a factor 2;
//  - the fake activation is code * s_a rounded to float32 (2^-24 per term) and its straight-through
//    rounding adds a float32 ulp of the quotient; 2^-20 of the terms' magnitudes covers both.
// A single code off by one moves the output by s_a * s_w * |code| ~ 1/K of the term sum, far above the
// second term for the K used here.
constexpr double kOutputRelTol = 1.0 / 256;
constexpr double kTermRelTol = 1.0 / (1 << 20);

// x [rows, k] float32 ~ N(0, 1) with a few outlier channels (x40), as the inputs of real layers.
at::Tensor activations(int64_t rows, int64_t k, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::Tensor x = at::randn({rows, k}, gen, at::kFloat);
  x.select(1, 3).mul_(40);
  x.select(1, k - 2).mul_(-25);
  return x;
}

// W [..., n, k] float64 ~ N(0, 1/k) with a few large weights.
at::Tensor weights(at::IntArrayRef shape, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::Tensor w = at::randn(shape, gen, at::kDouble) / std::sqrt(static_cast<double>(shape.back()));
  w.flatten(0, -2).select(0, 1).mul_(6);
  return w;
}

// A random online transform: L [n1, n1], R [n2, n2] ~ I + N(0, 0.2^2) (invertible, not orthogonal).
quant::TransformMatrices random_transform(int64_t n1, int64_t n2, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  quant::TransformMatrices m;
  m.left = at::eye(n1, at::kFloat) + 0.2 * at::randn({n1, n1}, gen, at::kFloat);
  m.right = at::eye(n2, at::kFloat) + 0.2 * at::randn({n2, n2}, gen, at::kFloat);
  return m;
}

quant::ClipFactors clip(double max, double min) {
  return {at::full({1}, max, at::kFloat), at::full({1}, min, at::kFloat)};
}

struct Case {
  quant::QuantSpec weight{4, true, 0};
  quant::QuantSpec act{4, true, 0};
  bool mse = false;
  bool transform = true;
  quant::ClipFactors act_clip = clip(0.9, 0.8);
  std::string name;
};

std::vector<Case> cases() {
  std::vector<Case> out(4);
  out[0].name = "symmetric, LAC, transform";
  out[1].act.symmetric = false;
  out[1].name = "asymmetric activations";
  out[2].mse = true;
  out[2].name = "MSE weight scales";
  out[3].transform = false;
  out[3].act_clip = {};
  out[3].name = "no transform, no clipping";
  return out;
}

// The fake path of one linear in float64: fake-quantized transformed input times the fake-quantized
// weight (the activation quantized in float32, as FrozenLayer does for float32 compute).
struct FakeReference {
  at::Tensor y;      // [rows, n] float64
  at::Tensor terms;  // sum_k |xq_k wq_k|, [rows, n]
};

FakeReference fake_linear(const at::Tensor& x_transformed, const at::Tensor& w64, const Case& c) {
  const at::Tensor xq = quant::fake_quantize_activation(x_transformed, c.act, c.act_clip).to(at::kDouble);
  const quant::QuantParams p = c.mse ? quant::weight_quant_params_mse(w64, c.weight)
                                     : quant::weight_quant_params(w64, c.weight);
  const at::Tensor wq = quant::fake_quantize(w64, p, c.weight);
  return {at::linear(xq, wq), at::linear(xq.abs(), wq.abs())};
}

void expect_within_rounding(const at::Tensor& y_int4, const FakeReference& ref, const std::string& what) {
  const at::Tensor err = (y_int4.to(at::kDouble) - ref.y).abs();
  const at::Tensor bound = kOutputRelTol * ref.y.abs() + kTermRelTol * ref.terms;
  const int64_t bad = (err > bound).sum().item<int64_t>();
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << err.numel() << " outputs off by more than float rounding; "
                    << "max error " << err.max().item<double>() << ", max |y| " << ref.y.abs().max().item<double>();
  // and the outputs are not trivially small
  EXPECT_GT(ref.y.abs().max().item<double>(), 1.0) << what;
}

at::Tensor transformed(const at::Tensor& x, const kernels::KronTransform& t) {
  return kernels::kron_transform_ref(x, t, kernels::TransformPrecision::kFloat32);
}

TEST(Int4Linear, SameCodesAsTheFakePathAndOutputsWithinFloatRounding) {
  constexpr int64_t kRows = 37, kIn = 64, kOut = 48;
  for (const Case& c : cases()) {
    const at::Tensor x = activations(kRows, kIn, 11);
    const at::Tensor w64 = weights({kOut, kIn}, 12);
    const kernels::KronTransform t = c.transform ? kron_transform_of(random_transform(8, 8, 13)) : kernels::KronTransform{};
    const kernels::TokenQuantConfig act = token_quant_config(c.act, c.act_clip);

    Int4Linear linear(pack_weight_int4(w64, c.weight, c.mse), kernels::TransformPrecision::kFloat32);
    linear.bind_input(t, act);

    // Weight codes: the fake quantizer's, bit for bit; scale: its float64 value rounded to float32.
    const quant::QuantParams wp = c.mse ? quant::weight_quant_params_mse(w64, c.weight)
                                        : quant::weight_quant_params(w64, c.weight);
    EXPECT_TRUE(at::equal(kernels::unpack_int4(linear.weight().packed, true),
                          quant::quantize_codes(w64, wp, c.weight)))
        << c.name << ": weight codes";
    EXPECT_TRUE(at::equal(linear.weight().scale, wp.scale.reshape({-1}).to(at::kFloat))) << c.name;

    // Activation codes of the transformed rows: the fake quantizer's, bit for bit.
    const at::Tensor xt = c.transform ? transformed(x, t) : x;
    const kernels::PackedInt4Rows a = kernels::quantize_rows_int4(xt, act);
    const quant::QuantParams ap = quant::activation_quant_params(xt, c.act, c.act_clip);
    EXPECT_TRUE(at::equal(kernels::unpack_int4(a.packed, c.act.symmetric).to(at::kShort),
                          quant::quantize_codes(xt, ap, c.act).to(at::kShort)))
        << c.name << ": activation codes";

    const at::Tensor y = linear(x.reshape({1, kRows, kIn}));
    ASSERT_EQ(y.sizes(), (at::IntArrayRef{1, kRows, kOut})) << c.name;
    EXPECT_EQ(y.scalar_type(), at::kFloat) << c.name;
    expect_within_rounding(y.reshape({kRows, kOut}), fake_linear(xt, w64, c), c.name);
  }
}

TEST(Int4Experts, GroupedGemmMatchesPerExpertFakePathWithUnevenAndEmptyExperts) {
  constexpr int64_t kIn = 32, kOut = 24;
  const std::vector<int64_t> counts{7, 0, 13, 1, 4};  // expert 1 gets no token
  const int64_t experts = static_cast<int64_t>(counts.size());
  int64_t rows = 0;
  for (int64_t n : counts) rows += n;
  const at::Tensor x = activations(rows, kIn, 21);
  const at::Tensor w64 = weights({experts, kOut, kIn}, 22);
  for (bool per_expert : {false, true}) {
    Case c;
    std::vector<kernels::KronTransform> transforms;
    std::vector<kernels::TokenQuantConfig> acts;
    std::vector<quant::ClipFactors> clips;
    for (int64_t e = 0; e < (per_expert ? experts : 1); ++e) {
      transforms.push_back(kron_transform_of(random_transform(4, 8, 30 + e)));
      clips.push_back(clip(0.95 - 0.05 * e, 0.7 + 0.05 * e));
      acts.push_back(token_quant_config(c.act, clips.back()));
    }
    std::vector<kernels::Int4Weight> packed;
    for (int64_t e = 0; e < experts; ++e) packed.push_back(pack_weight_int4(w64[e], c.weight, false));
    Int4Experts grouped(stack_int4_weights(packed), kernels::TransformPrecision::kFloat32);
    grouped.bind_input(transforms, acts);
    const at::Tensor y = grouped(x, counts);
    ASSERT_EQ(y.sizes(), (at::IntArrayRef{rows, kOut}));

    int64_t begin = 0;
    for (int64_t e = 0; e < experts; ++e) {
      if (counts[e] == 0) continue;
      const size_t k = per_expert ? static_cast<size_t>(e) : 0;
      Case ce = c;
      ce.act_clip = clips[k];
      const at::Tensor xe = transformed(x.narrow(0, begin, counts[e]), transforms[k]);
      expect_within_rounding(y.narrow(0, begin, counts[e]), fake_linear(xe, w64[e], ce),
                             "expert " + std::to_string(e) + (per_expert ? " (per-expert)" : " (shared)"));
      begin += counts[e];
    }
  }
}

TEST(Int4Experts, RejectsCountsThatDoNotMatchTheRows) {
  const at::Tensor w64 = weights({2, 8, 16}, 40);
  Int4Experts grouped(stack_int4_weights({pack_weight_int4(w64[0], {4, true, 0}, false),
                                          pack_weight_int4(w64[1], {4, true, 0}, false)}),
                      kernels::TransformPrecision::kFloat32);
  grouped.bind_input({}, {kernels::TokenQuantConfig{}});
  EXPECT_THROW(grouped(activations(5, 16, 41), {2, 2}), Error);
  EXPECT_THROW(grouped(activations(5, 16, 41), {5}), Error);
}

TEST(Int4Linear, UnsupportedQuantizersAndShapesAreNamed) {
  const quant::QuantSpec w4{4, true, 0}, a4{4, true, 0};
  const c10::Device cpu(c10::kCPU), cuda(c10::kCUDA, 0);
  EXPECT_EQ(int4_unsupported_reason(w4, a4, 64, 48, cpu), "");
  EXPECT_EQ(int4_unsupported_reason(w4, {4, false, 0}, 64, 48, cuda), "");
  EXPECT_NE(int4_unsupported_reason({4, false, 0}, a4, 64, 48, cpu).find("asymmetric weights"), std::string::npos);
  EXPECT_NE(int4_unsupported_reason({8, true, 0}, a4, 64, 48, cpu).find("weight bits 8"), std::string::npos);
  EXPECT_NE(int4_unsupported_reason(w4, {16, true, 0}, 64, 48, cpu).find("activation bits 16"), std::string::npos);
  EXPECT_NE(int4_unsupported_reason({4, true, 128}, a4, 256, 48, cpu).find("group size"), std::string::npos);
  EXPECT_NE(int4_unsupported_reason(w4, a4, 63, 48, cpu).find("odd"), std::string::npos);
  // CPU references take any even K; the CUDA GEMM needs K % 32 and N % 8.
  EXPECT_EQ(int4_unsupported_reason(w4, a4, 48, 20, cpu), "");
  EXPECT_NE(int4_unsupported_reason(w4, a4, 48, 24, cuda).find("multiple of 32"), std::string::npos);
  EXPECT_NE(int4_unsupported_reason(w4, a4, 64, 20, cuda).find("multiple of 8"), std::string::npos);
}

}  // namespace
}  // namespace fq::flat
