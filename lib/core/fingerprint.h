// Stable 64-bit fingerprints (FNV-1a) of configs and checkpoints, printed as 16 hex digits. Used to
// refuse resuming a run directory made with another model or another config, not for security.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fq {

class Fingerprint {
 public:
  Fingerprint& add(std::string_view bytes);
  Fingerprint& add(std::uint64_t value);
  std::uint64_t value() const { return hash_; }
  std::string hex() const;

 private:
  std::uint64_t hash_ = 1469598103934665603ull;
};

}  // namespace fq
