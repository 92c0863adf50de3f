// Seeded random inputs for the kernel tests: activations with outlier channels (as LLM activations have),
// orthogonal-ish transform factors, and int4 codes.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace fq::test {

// float32 [rows, n]: N(0, 1) entries, every 37th channel scaled by 40 and one row in 8 by 6, so that the
// per-token max is set by outliers as in real LLM activations. Never all-zero.
at::Tensor activations_with_outliers(int64_t rows, int64_t n, uint64_t seed);

// float32 [n, n]: a random orthogonal matrix (QR of a Gaussian) times a random diagonal in [0.5, 2], i.e. a
// well-conditioned matrix like a calibrated FlatQuant factor.
at::Tensor random_factor(int64_t n, uint64_t seed);

// int8 [shape] codes uniform in [lo, hi].
at::Tensor random_codes(at::IntArrayRef shape, int64_t lo, int64_t hi, uint64_t seed);

}  // namespace fq::test
