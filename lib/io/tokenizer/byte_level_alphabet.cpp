#include "lib/io/tokenizer/byte_level_alphabet.h"

#include "lib/io/tokenizer/utf8.h"

namespace fq::io::tok {

ByteLevelAlphabet::ByteLevelAlphabet() {
  byte_by_code_point_.fill(-1);
  auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
  char32_t next_extra = 0x100;
  for (int b = 0; b < 256; ++b) {
    char32_t cp = printable(b) ? static_cast<char32_t>(b) : next_extra++;
    append_utf8(&utf8_by_byte_[b], cp);
    byte_by_code_point_[cp] = static_cast<int16_t>(b);
  }
}

const ByteLevelAlphabet& ByteLevelAlphabet::get() {
  static const ByteLevelAlphabet alphabet;
  return alphabet;
}

void ByteLevelAlphabet::encode_all(std::string_view bytes, std::string* out) const {
  out->reserve(out->size() + bytes.size() * 2);
  for (unsigned char b : bytes) out->append(utf8_by_byte_[b]);
}

}  // namespace fq::io::tok
