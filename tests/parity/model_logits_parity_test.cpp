// lib/model's forward against the Hugging Face goldens (REFERENCE.md section 5): float32 logits of
// models/golden/<model>.logits.safetensors (input_ids [2, 64] of kjv.test.txt tokens).
#include <iostream>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/io/checkpoint.h"
#include "lib/io/safetensors.h"
#include "lib/model/causal_lm.h"
#include "tests/support/shared_dir.h"

namespace fq::model {
namespace {

// Float32 compute vs HF float32: only summation order differs.
constexpr double kLogitsF32RelTol = 1e-2;
// Bfloat16 compute (every activation rounded to 8 bits of mantissa) vs the float32 goldens.
constexpr double kLogitsBf16RelTol = 5e-2;

double relative_l2(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor a64 = a.to(at::kDouble), b64 = b.to(at::kDouble);
  return (a64 - b64).norm().item<double>() / b64.norm().item<double>();
}

class LogitsParity : public ::testing::TestWithParam<std::string> {};

TEST_P(LogitsParity, MatchesGoldenLogits) {
  FQ_REQUIRE_SHARED();
  const std::string model = GetParam();
  const io::Checkpoint checkpoint(test::shared_path("models/" + model));
  const io::SafetensorsFile golden(test::shared_path("models/golden/" + model + ".logits.safetensors"));
  const at::Tensor input_ids = golden.read("input_ids");
  const at::Tensor expected = golden.read("logits");

  ModelOptions f32;
  const at::Tensor logits = causal_lm_logits(checkpoint, input_ids, f32);
  ASSERT_EQ(logits.sizes(), expected.sizes());
  const double err = relative_l2(logits, expected);
  std::cout << "[parity] " << model << " float32 logits relative L2 error " << err << " (bound " << kLogitsF32RelTol
            << ")\n";
  RecordProperty("f32_relative_l2", std::to_string(err));
  EXPECT_LT(err, kLogitsF32RelTol);

  ModelOptions bf16;
  bf16.dtype = at::kBFloat16;
  const double err_bf16 = relative_l2(causal_lm_logits(checkpoint, input_ids, bf16), expected);
  std::cout << "[parity] " << model << " bfloat16 logits relative L2 error " << err_bf16 << " (bound "
            << kLogitsBf16RelTol << ")\n";
  RecordProperty("bf16_relative_l2", std::to_string(err_bf16));
  EXPECT_LT(err_bf16, kLogitsBf16RelTol);
}

INSTANTIATE_TEST_SUITE_P(TinyModels, LogitsParity,
                         ::testing::Values("tiny-llama3", "tiny-deepseek-v3", "tiny-deepseek-v3-fp8"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

}  // namespace
}  // namespace fq::model
