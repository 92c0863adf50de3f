// Kronecker factor sizes of a transform of size n (ALGORITHM.md, "The affine transform of one linear group").
#pragma once

#include <cstdint>
#include <utility>

namespace fq::quant {

// Returns (n1, n2) with n1 * n2 == n and n1 <= n2: (a - b, a + b) for the smallest a >= ceil(sqrt(n))
// such that a^2 - n is a perfect square b^2. Throws fq::Error when the only factorisation is 1 x n
// (n prime or 1), since a Kronecker transform then degenerates into one dense n x n matrix.
std::pair<int64_t, int64_t> decompose_dim(int64_t n);

}  // namespace fq::quant
