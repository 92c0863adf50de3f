// GPT-2's byte-level alphabet: every byte maps to one printable code point (printable Latin-1 bytes to
// themselves, the other 68 bytes to U+0100.. in byte order), so BPE can run on any byte string.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace fq::io::tok {

class ByteLevelAlphabet {
 public:
  static const ByteLevelAlphabet& get();

  // The UTF-8 encoding of the code point standing for `byte`.
  const std::string& encode(unsigned char byte) const { return utf8_by_byte_[byte]; }
  // Appends the mapped form of every byte of `bytes` to `out`.
  void encode_all(std::string_view bytes, std::string* out) const;
  // The byte a code point stands for, or -1 when it is not in the alphabet.
  int decode(char32_t code_point) const {
    return code_point < byte_by_code_point_.size() ? byte_by_code_point_[code_point] : -1;
  }

 private:
  ByteLevelAlphabet();
  std::array<std::string, 256> utf8_by_byte_;
  std::array<int16_t, 324> byte_by_code_point_;  // the alphabet ends at U+0143
};

}  // namespace fq::io::tok
