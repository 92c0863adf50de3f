// A small deterministic generator (splitmix64) for window positions and other seeded choices whose values
// must not depend on the standard library (std::uniform_int_distribution differs between vendors) or on
// the number of ranks.
#pragma once

#include <cstdint>

namespace fq {

class SeededRng {
 public:
  explicit SeededRng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound) (bound > 0), by rejection so that no value is favoured.
  std::uint64_t below(std::uint64_t bound) {
    const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % bound);
    std::uint64_t r;
    do {
      r = next();
    } while (r >= limit);
    return r % bound;
  }

 private:
  std::uint64_t state_;
};

// Mixes a run seed with an index (a layer, a rank-independent unit of work) into a new seed.
inline std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t index) {
  SeededRng rng(seed * 0x100000001b3ull + index);
  return rng.next();
}

}  // namespace fq
