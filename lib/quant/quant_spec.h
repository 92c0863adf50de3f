// What a quantizer does: bit width, symmetry and grouping (ALGORITHM.md, "Quantizers").
#pragma once

#include <cstdint>
#include <string>

namespace fq::quant {

struct QuantSpec {
  int bits = 16;           // 16 = not quantized; otherwise 2..8
  bool symmetric = true;   // symmetric: codes in [-2^(b-1), 2^(b-1)-1]; asymmetric: [0, 2^b-1] with a zero point
  int64_t group_size = 0;  // 0: one group per row (per token / per output channel); g > 0: groups of g along the last dim

  bool enabled() const { return bits < 16; }
  // Largest code: 2^(b-1)-1 (symmetric) or 2^b-1 (asymmetric).
  int64_t max_code() const { return symmetric ? (int64_t{1} << (bits - 1)) - 1 : (int64_t{1} << bits) - 1; }
  int64_t min_code() const { return symmetric ? -max_code() - 1 : 0; }
  // Throws fq::Error naming `where` for bits outside {2..8, 16} or a negative group size.
  void validate(const std::string& where) const;
  // Throws when group_size does not divide `last_dim`.
  void validate_for(int64_t last_dim, const std::string& where) const;
};

}  // namespace fq::quant
