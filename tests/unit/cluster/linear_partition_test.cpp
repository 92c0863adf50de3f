#include "cluster/linear_partition.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <random>

#include "lib/core/error.h"

namespace fq::cluster {
namespace {

// Sums of each block; checks the bounds describe contiguous blocks covering all items.
std::vector<double> block_sums(const std::vector<double>& costs, const std::vector<int>& bounds, int parts) {
  EXPECT_EQ(static_cast<int>(bounds.size()), parts + 1);
  EXPECT_EQ(bounds.front(), 0);
  EXPECT_EQ(bounds.back(), static_cast<int>(costs.size()));
  std::vector<double> sums;
  for (int p = 0; p < parts; ++p) {
    EXPECT_LE(bounds[p], bounds[p + 1]) << "block " << p << " runs backwards";
    double s = 0;
    for (int i = bounds[p]; i < bounds[p + 1]; ++i) s += costs[i];
    sums.push_back(s);
  }
  return sums;
}

// Every cut of n items into `parts` contiguous (possibly empty) blocks: the exact optimum of the largest
// block, and the smallest sum of squares among the cuts that reach it.
std::pair<double, double> brute_force(const std::vector<double>& costs, int parts) {
  const int n = static_cast<int>(costs.size());
  double best_max = std::numeric_limits<double>::infinity(), best_squares = best_max;
  std::vector<int> bounds(parts + 1, 0);
  bounds[parts] = n;
  std::function<void(int)> place = [&](int p) {
    if (p == parts) {
      double worst = 0, squares = 0;
      for (int q = 0; q < parts; ++q) {
        double s = 0;
        for (int i = bounds[q]; i < bounds[q + 1]; ++i) s += costs[i];
        worst = std::max(worst, s);
        squares += s * s;
      }
      if (worst < best_max - 1e-12) {
        best_max = worst;
        best_squares = squares;
      } else if (worst <= best_max + 1e-12) {
        best_squares = std::min(best_squares, squares);
      }
      return;
    }
    for (int b = bounds[p - 1]; b <= n; ++b) {
      bounds[p] = b;
      place(p + 1);
    }
  };
  place(1);
  return {best_max, best_squares};
}

TEST(LinearPartition, MatchesBruteForceOnRandomSmallCases) {
  std::mt19937 rng(1234);
  std::uniform_real_distribution<double> cost(0.0, 10.0);
  int cases = 0;
  for (int n = 0; n <= 8; ++n) {
    for (int parts = 1; parts <= 5; ++parts) {
      for (int trial = 0; trial < 6; ++trial) {
        std::vector<double> costs(n);
        for (double& c : costs) c = trial % 3 == 0 ? std::floor(cost(rng)) : cost(rng);  // integers make ties
        if (trial == 5 && n > 2) costs[1] = costs[2] = 0;                               // skipped layers
        const std::vector<int> bounds = linear_partition(costs, parts);
        const std::vector<double> sums = block_sums(costs, bounds, parts);
        double worst = 0, squares = 0;
        for (double s : sums) {
          worst = std::max(worst, s);
          squares += s * s;
        }
        const auto [best_max, best_squares] = brute_force(costs, parts);
        EXPECT_NEAR(worst, best_max, 1e-9) << "n=" << n << " parts=" << parts << " trial=" << trial;
        EXPECT_NEAR(squares, best_squares, 1e-9) << "n=" << n << " parts=" << parts << " trial=" << trial;
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 9 * 5 * 6);
}

TEST(LinearPartition, HeavyMoeLayersGetTheirOwnBlocks) {
  // One dense layer then MoE layers ten times as costly (DeepSeek V3's layout), over 4 parts.
  const std::vector<double> costs = {1, 10, 10, 10, 10, 10, 10, 10};
  const std::vector<int> bounds = linear_partition(costs, 4);
  const std::vector<double> sums = block_sums(costs, bounds, 4);
  EXPECT_DOUBLE_EQ(*std::max_element(sums.begin(), sums.end()), 20.0);  // 71 over 4 parts: 2 MoE layers each
  EXPECT_EQ(bounds, (std::vector<int>{0, 2, 4, 6, 8}));
}

TEST(LinearPartition, SpreadsWorkInsteadOfFillingEarlyBlocksToTheMaximum) {
  // The bottleneck is the 8. Filling blocks up to it from the left gives [2,2,2,2 | 2,2 | 8]; the even
  // [2,2,2 | 2,2,2 | 8] has the same maximum and a smaller sum of squares.
  const std::vector<double> costs = {2, 2, 2, 2, 2, 2, 8};
  EXPECT_EQ(linear_partition(costs, 3), (std::vector<int>{0, 3, 6, 7}));
}

TEST(LinearPartition, MorePartsThanItemsLeavesTheLastBlocksEmpty) {
  const std::vector<double> costs = {3, 1, 2};
  EXPECT_EQ(linear_partition(costs, 5), (std::vector<int>{0, 1, 2, 3, 3, 3}));
  EXPECT_EQ(linear_partition({}, 2), (std::vector<int>{0, 0, 0}));
}

TEST(LinearPartition, IsDeterministic) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> cost(0.5, 3.0);
  std::vector<double> costs(61);
  for (double& c : costs) c = cost(rng);
  const std::vector<int> first = linear_partition(costs, 16);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(linear_partition(costs, 16), first);
}

TEST(LinearPartition, RejectsBadInput) {
  EXPECT_THROW(linear_partition({1, 2}, 0), Error);
  EXPECT_THROW(linear_partition({1, -2}, 2), Error);
  EXPECT_THROW(linear_partition({1, std::numeric_limits<double>::quiet_NaN()}, 2), Error);
}

}  // namespace
}  // namespace fq::cluster
