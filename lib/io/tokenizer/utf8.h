// UTF-8 helpers for the tokenizer: validation with the offending offset, code point iteration, and the
// lossy conversion Rust's String::from_utf8_lossy performs (which HF decoders rely on).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace fq::io::tok {

// Byte offset of the first ill-formed sequence in `text`, or std::string_view::npos when it is valid UTF-8
// (no overlongs, no surrogates, nothing above U+10FFFF).
std::size_t find_invalid_utf8(std::string_view text);

// Length in bytes of the (valid) UTF-8 character starting with `lead`.
inline std::size_t utf8_char_length(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// Decodes the valid UTF-8 character at `text[pos]` and advances `pos` past it.
char32_t next_code_point(std::string_view text, std::size_t* pos);

void append_utf8(std::string* out, char32_t code_point);

// Valid UTF-8 copied through; each maximal ill-formed subsequence becomes one U+FFFD.
std::string utf8_lossy(std::string_view bytes);

}  // namespace fq::io::tok
