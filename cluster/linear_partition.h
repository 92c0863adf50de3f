// Optimal contiguous partition of a sequence of costs (the "linear partition" problem): how decoder
// layers, in order, are cut into one block per rank group.
#pragma once

#include <vector>

namespace fq::cluster {

// Cuts `costs` (finite, >= 0) into `parts` contiguous blocks, possibly empty, and returns the parts + 1
// boundaries: block p is [bounds[p], bounds[p+1]), bounds.front() == 0, bounds.back() == costs.size().
//
// Exact and deterministic: first the smallest possible largest block cost (dynamic programming,
// O(parts * n^2)); then, among the cuts reaching it, the one with the smallest sum of squared block
// costs, which spreads the remaining work evenly instead of loading the first blocks up to the maximum.
// Remaining ties go to the cut that gives earlier blocks more items (empty blocks come last).
std::vector<int> linear_partition(const std::vector<double>& costs, int parts);

}  // namespace fq::cluster
