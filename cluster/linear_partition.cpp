#include "cluster/linear_partition.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "lib/core/error.h"

namespace fq::cluster {

std::vector<int> linear_partition(const std::vector<double>& costs, int parts) {
  FQ_CHECK(parts >= 1, "linear_partition: need at least one part, got ", parts);
  const int n = static_cast<int>(costs.size());
  std::vector<double> prefix(n + 1, 0.0);
  for (int i = 0; i < n; ++i) {
    FQ_CHECK(std::isfinite(costs[i]) && costs[i] >= 0, "linear_partition: cost ", i, " is ", costs[i],
             "; costs must be finite and >= 0");
    prefix[i + 1] = prefix[i] + costs[i];
  }
  // Every block cost is computed as this one expression, so comparisons between the phases are exact.
  auto block = [&](int begin, int end) { return prefix[end] - prefix[begin]; };
  constexpr double kInf = std::numeric_limits<double>::infinity();

  // Phase 1: bottleneck[i] = smallest largest block over cuts of the first i items into p blocks.
  std::vector<double> bottleneck(n + 1), next(n + 1);
  for (int i = 0; i <= n; ++i) bottleneck[i] = block(0, i);
  for (int p = 2; p <= parts; ++p) {
    for (int i = 0; i <= n; ++i) {
      double best = kInf;
      for (int j = i; j >= 0; --j) best = std::min(best, std::max(bottleneck[j], block(j, i)));
      next[i] = best;
    }
    bottleneck.swap(next);
  }
  const double limit = bottleneck[n];
  const double allowed = limit + limit * 1e-12;  // guards against the last bit of summation order only

  // Phase 2: among cuts whose blocks all stay within `limit`, the smallest sum of squared block costs.
  std::vector<std::vector<int>> parent(parts + 1, std::vector<int>(n + 1, -1));
  std::vector<double> squares(n + 1, kInf), next_squares(n + 1);
  for (int i = 0; i <= n; ++i) {
    if (block(0, i) <= allowed) squares[i] = block(0, i) * block(0, i);
    parent[1][i] = 0;
  }
  for (int p = 2; p <= parts; ++p) {
    for (int i = 0; i <= n; ++i) {
      double best = kInf;
      int best_j = -1;
      for (int j = i; j >= 0; --j) {  // largest j first: ties give earlier blocks more items
        const double b = block(j, i);
        if (b > allowed || squares[j] == kInf) continue;
        const double total = squares[j] + b * b;
        if (total < best) {
          best = total;
          best_j = j;
        }
      }
      next_squares[i] = best;
      parent[p][i] = best_j;
    }
    squares.swap(next_squares);
  }
  FQ_ASSERT(squares[n] < kInf, "the optimal bottleneck must be reachable");

  std::vector<int> bounds(parts + 1);
  bounds[parts] = n;
  for (int p = parts; p >= 1; --p) bounds[p - 1] = parent[p][bounds[p]];
  FQ_ASSERT(bounds[0] == 0);
  return bounds;
}

}  // namespace fq::cluster
