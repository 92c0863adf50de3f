#include "lib/io/tokenizer/utf8.h"

namespace fq::io::tok {
namespace {

// Length of the well-formed prefix of the sequence starting at `bytes[pos]` (Unicode table 3-7), and
// whether it is a complete character. A lone continuation byte or invalid lead has prefix length 0.
struct SequenceCheck {
  std::size_t valid_prefix;
  bool complete;
};

SequenceCheck check_sequence(std::string_view bytes, std::size_t pos) {
  auto b0 = static_cast<unsigned char>(bytes[pos]);
  if (b0 < 0x80) return {1, true};
  std::size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlongs
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;  // no overlongs
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {0, false};
  }
  std::size_t len = 1;
  for (; len < need && pos + len < bytes.size(); ++len) {
    auto b = static_cast<unsigned char>(bytes[pos + len]);
    unsigned char l = len == 1 ? lo : 0x80, h = len == 1 ? hi : 0xBF;
    if (b < l || b > h) break;
  }
  return {len, len == need};
}

}  // namespace

std::size_t find_invalid_utf8(std::string_view text) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    SequenceCheck check = check_sequence(text, pos);
    if (!check.complete) return pos;
    pos += check.valid_prefix;
  }
  return std::string_view::npos;
}

char32_t next_code_point(std::string_view text, std::size_t* pos) {
  auto b0 = static_cast<unsigned char>(text[*pos]);
  std::size_t len = utf8_char_length(b0);
  char32_t cp = len == 1 ? b0 : len == 2 ? (b0 & 0x1F) : len == 3 ? (b0 & 0x0F) : (b0 & 0x07);
  for (std::size_t i = 1; i < len; ++i) cp = (cp << 6) | (static_cast<unsigned char>(text[*pos + i]) & 0x3F);
  *pos += len;
  return cp;
}

void append_utf8(std::string* out, char32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string utf8_lossy(std::string_view bytes) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  out.reserve(bytes.size());
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    SequenceCheck check = check_sequence(bytes, pos);
    if (check.complete) {
      out.append(bytes.substr(pos, check.valid_prefix));
      pos += check.valid_prefix;
    } else {
      out.append(kReplacement);
      pos += check.valid_prefix == 0 ? 1 : check.valid_prefix;
    }
  }
  return out;
}

}  // namespace fq::io::tok
