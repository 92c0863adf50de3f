#include "lib/model/perplexity.h"

#include <cmath>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/error.h"

namespace fq::model {
namespace {

TEST(Perplexity, WindowsAreConsecutiveAndDropTheTail) {
  std::vector<int64_t> ids(11);
  for (int64_t i = 0; i < 11; ++i) ids[i] = 100 + i;
  const at::Tensor w = token_windows(ids, 4);
  ASSERT_EQ(w.sizes(), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(w[0][0].item<int64_t>(), 100);
  EXPECT_EQ(w[1][0].item<int64_t>(), 104);
  EXPECT_EQ(w[1][3].item<int64_t>(), 107);
  EXPECT_THROW(token_windows(ids, 12), fq::Error);
  EXPECT_THROW(token_windows(ids, 1), fq::Error);
}

TEST(Perplexity, WindowNllIsMeanNextTokenCrossEntropy) {
  at::manual_seed(61);
  const at::Tensor logits = at::randn({2, 5, 7});
  const at::Tensor windows = at::randint(0, 7, {2, 5}, at::kLong);
  const at::Tensor nll = window_mean_nll(logits, windows);
  ASSERT_EQ(nll.scalar_type(), at::kDouble);
  for (int64_t n = 0; n < 2; ++n) {
    double sum = 0;
    for (int64_t t = 0; t + 1 < 5; ++t) {
      double norm = 0;
      for (int64_t v = 0; v < 7; ++v) norm += std::exp(logits[n][t][v].item<double>());
      sum += std::log(norm) - logits[n][t][windows[n][t + 1].item<int64_t>()].item<double>();
    }
    EXPECT_NEAR(nll[n].item<double>(), sum / 4, 1e-6)
        << "window " << n;  // 4 predictions: the last token predicts nothing
  }
}

}  // namespace
}  // namespace fq::model
