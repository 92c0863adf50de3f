#include "lib/quant/decompose_dim.h"

#include <cmath>

#include "lib/core/error.h"

namespace fq::quant {
namespace {

int64_t isqrt(int64_t v) {
  auto r = static_cast<int64_t>(std::sqrt(static_cast<double>(v)));
  while (r * r > v) --r;
  while ((r + 1) * (r + 1) <= v) ++r;
  return r;
}

}  // namespace

std::pair<int64_t, int64_t> decompose_dim(int64_t n) {
  FQ_CHECK(n >= 2, "decompose_dim: size ", n, " cannot be Kronecker-decomposed (need n >= 2)");
  // a^2 - b^2 is never 2 (mod 4): the search of the reference would never end for such sizes.
  FQ_CHECK(n % 4 != 2, "decompose_dim: size ", n,
           " is 2 mod 4 and has no factor pair of the form (a-b, a+b); pad or choose another size");
  int64_t a = isqrt(n);
  if (a * a < n) ++a;
  while (true) {
    const int64_t rest = a * a - n;
    const int64_t b = isqrt(rest);
    if (b * b == rest) {
      FQ_CHECK(a - b > 1, "decompose_dim: size ", n,
               " has no useful Kronecker decomposition (only 1 x ", n,
               "); use a size with a non-trivial factor pair");
      return {a - b, a + b};
    }
    ++a;
  }
}

}  // namespace fq::quant
