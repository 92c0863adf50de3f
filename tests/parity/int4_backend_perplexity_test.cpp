// W4A4 perplexity of the tiny reference models on the packed int4 backend (CPU kernel references) against
// the fake-quant backend, with the same random frozen FlatQuant parameters (tests/eval_support): the two
// quantize to the same codes up to transform rounding, so the perplexities must agree closely; and the
// int4 backend holds every quantized weight packed.
#include <cmath>
#include <cstdio>

#include <gtest/gtest.h>

#include "tests/eval_support/int4_eval_models.h"
#include "tests/support/shared_dir.h"

namespace fq {
namespace {

// Relative perplexity difference int4 vs fake (float32 compute): every packed linear rounds its output to
// bf16 and the transforms sum in another order. Measured: see the printed lines (docs/EVALUATION.md).
constexpr double kPerplexityRelTol = 5e-3;
constexpr int64_t kWindows = 24;  // of 256 tokens: ~6k tokens, a few seconds per model and backend

struct ModelCase {
  const char* model;
  bool kv4;  // LLaMA: also the 4-bit K/V cache (kv_cache_quantize)
};

class Int4BackendPerplexity : public ::testing::TestWithParam<ModelCase> {};

TEST_P(Int4BackendPerplexity, MatchesTheFakeBackend) {
  FQ_REQUIRE_SHARED();
  const ModelCase& mc = GetParam();
  pipelines::QuantConfig quant;  // W4A4, symmetric, per channel / per token
  if (mc.kv4) quant.k_bits = quant.v_bits = 4;
  const test::BackendPerplexity fake =
      test::backend_perplexity(mc.model, quant, flat::QuantBackend::kFake, c10::kCPU, c10::kFloat, kWindows);
  const test::BackendPerplexity int4 =
      test::backend_perplexity(mc.model, quant, flat::QuantBackend::kInt4, c10::kCPU, c10::kFloat, kWindows);
  const double rel = std::abs(int4.perplexity - fake.perplexity) / fake.perplexity;
  std::printf("[int4] %s%s: perplexity int4 %.4f, fake %.4f (relative %.2e); int4 weights %lld bytes vs %lld in bf16 "
              "(%lld linears packed, %lld fake)\n",
              mc.model, mc.kv4 ? " kv4" : "", int4.perplexity, fake.perplexity, rel,
              static_cast<long long>(int4.memory.int4_bytes), static_cast<long long>(int4.memory.int4_as_bf16_bytes),
              static_cast<long long>(int4.memory.int4_linears), static_cast<long long>(int4.memory.fake_linears));
  EXPECT_LT(rel, kPerplexityRelTol);
  EXPECT_TRUE(std::isfinite(fake.perplexity));
  EXPECT_EQ(int4.memory.fake_linears, 0);
  EXPECT_GT(int4.memory.int4_linears, 0);
  EXPECT_LT(int4.memory.int4_bytes, int4.memory.int4_as_bf16_bytes / 3);
  EXPECT_EQ(fake.memory.int4_bytes, 0);
}

INSTANTIATE_TEST_SUITE_P(TinyModels, Int4BackendPerplexity,
                         ::testing::Values(ModelCase{"tiny-llama3", false}, ModelCase{"tiny-llama3", true},
                                           ModelCase{"tiny-deepseek-v3", false}),
                         [](const ::testing::TestParamInfo<ModelCase>& info) {
                           std::string name = info.param.model;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name + (info.param.kv4 ? "_kv4" : "");
                         });

}  // namespace
}  // namespace fq
