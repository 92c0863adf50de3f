// tiny-deepseek-v3-fp8 holds the weights of tiny-deepseek-v3 as DeepSeek's release stores them. Loading it
// through Checkpoint (FP8 block dequantization) must give back the BF16 weights within the E4M3 rounding
// bound, element by element, and every tensor that is not an FP8 linear must be bit-identical.
#include <cmath>
#include <set>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/error.h"
#include "lib/io/checkpoint.h"
#include "tests/support/shared_dir.h"

namespace fq::io {
namespace {

// Per element |dequant - w| <= 2^-4 |w| + 2^-10 s, s the block's weight_scale_inv: E4M3 keeps 3 mantissa
// bits (half an ulp is 2^-4 of the value for normals) and subnormals are spaced 2^-9 s apart. The slack
// covers the float32 division by s before encoding and the BF16 rounding of the reference.
constexpr double kE4M3RelativeBound = 1.0 / 16;
constexpr double kE4M3SubnormalBound = 1.0 / 1024;
constexpr double kSlack = 1.0 + 1e-5;

TEST(Fp8CheckpointParity, DequantizedWeightsMatchBf16WithinE4M3Bound) {
  FQ_REQUIRE_SHARED();
  Checkpoint bf16(test::shared_path("models/tiny-deepseek-v3"));
  Checkpoint fp8(test::shared_path("models/tiny-deepseek-v3-fp8"));
  const int64_t block_rows = fp8.config().fp8_block_rows;
  const int64_t block_cols = fp8.config().fp8_block_cols;
  ASSERT_EQ(block_rows, 128);

  std::set<std::string> fp8_names;
  for (const std::string& name : fp8.names()) {
    if (name.size() < 10 || name.compare(name.size() - 10, 10, "_scale_inv") != 0) fp8_names.insert(name);
  }
  const std::vector<std::string> names = bf16.names();
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), fp8_names) << "both hold the same tensors";

  int fp8_tensors = 0;
  double worst_ratio = 0.0;  // max over elements of |error| / bound
  double worst_relative = 0.0;
  std::string worst_name;
  for (const std::string& name : names) {
    at::Tensor want = bf16.load(name, at::kFloat);
    at::Tensor got = fp8.load(name, at::kFloat);
    ASSERT_EQ(got.sizes(), want.sizes()) << name;
    if (fp8.info(name).dtype != StDtype::kF8E4M3) {
      EXPECT_TRUE(at::equal(fp8.load_raw(name), bf16.load_raw(name))) << name << " is stored unquantized";
      continue;
    }
    ++fp8_tensors;
    EXPECT_TRUE(name.find("layernorm") == std::string::npos && name.find("embed") == std::string::npos &&
                name.find("mlp.gate.") == std::string::npos)
        << name << ": norms, embeddings and the router stay high precision";
    at::Tensor scale = fp8.load_raw(name + "_scale_inv");
    at::Tensor scale_full = scale.repeat_interleave(block_rows, 0)
                                .slice(0, 0, want.size(0))
                                .repeat_interleave(block_cols, 1)
                                .slice(1, 0, want.size(1));
    at::Tensor bound =
        (want.abs().to(at::kDouble) * kE4M3RelativeBound + scale_full.to(at::kDouble) * kE4M3SubnormalBound) * kSlack;
    at::Tensor err = (got.to(at::kDouble) - want.to(at::kDouble)).abs();
    const double ratio = (err / bound).max().item<double>();
    EXPECT_LE(ratio, 1.0) << name << ": an element exceeds the E4M3 rounding bound";
    const double rel = (err.sum() / want.abs().to(at::kDouble).sum()).item<double>();
    if (ratio > worst_ratio) {
      worst_ratio = ratio;
      worst_name = name;
    }
    worst_relative = std::max(worst_relative, rel);
  }
  EXPECT_EQ(fp8_tensors, 8 + 3 * (5 + 16 * 3 + 3)) << "every 2-D linear of the 4 layers is FP8";
  std::printf("[fp8 parity] %d FP8 tensors; worst |err|/bound %.3f (%s); worst mean relative error %.4f\n", fp8_tensors,
              worst_ratio, worst_name.c_str(), worst_relative);
}

}  // namespace
}  // namespace fq::io
