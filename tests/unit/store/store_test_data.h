// Test inputs shared by the store suites: activations with every special float payload, and bitwise
// comparison (NaN payloads, -0 and subnormals included).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <ATen/core/Tensor.h>

namespace fq::store::test {

// [n, seqlen, hidden] of `dtype` (bfloat16, float16 or float32): normal values (fixed seed) with outliers
// of +-1000 x sigma, and in sample 0 the special bit patterns: +-0, +-inf, quiet and signalling NaNs with
// payloads and sign, the smallest and largest subnormals, the largest finite values.
at::Tensor activations_with_special_values(c10::ScalarType dtype, std::int64_t n, std::int64_t seqlen,
                                           std::int64_t hidden, std::uint64_t seed);

// Same shape, dtype and bits.
bool bitwise_equal(const at::Tensor& a, const at::Tensor& b);

// Whether `text` contains `part`, for EXPECT_TRUE with a readable failure.
bool contains(const std::string& text, const std::string& part);

// The message of the fq::Error that `body` throws, or "(no error)".
std::string error_of(const std::function<void()>& body);

}  // namespace fq::store::test
