// The regular expressions of tokenizer.json (Split pre-tokenizers, Replace normalizers and decoders),
// run by PCRE2 with Unicode properties (PCRE2_UTF | PCRE2_UCP) and its JIT.
//
// HF tokenizers compiles these patterns with Oniguruma (Oniguruma syntax, no options). The few escapes
// whose meaning differs between the two engines are rewritten before PCRE2 sees them (see
// oniguruma_to_pcre2); `^`/`$` are line anchors in Oniguruma, hence PCRE2_MULTILINE.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/io/tokenizer/json_field.h"

namespace fq::io::tok {

// One piece of a searched text: a match, or the gap between matches.
struct MatchSpan {
  std::size_t begin = 0;
  std::size_t end = 0;
  bool is_match = false;
};

struct CompiledRegex;  // a pcre2_code with its JIT code (unicode_regex.cpp)

class UnicodeRegex {
 public:
  // `where` names the file and field in compile errors.
  static UnicodeRegex from_pattern(const std::string& oniguruma_pattern, const std::string& where);
  // Matches `text` literally (tokenizer.json `{"String": ...}` patterns).
  static UnicodeRegex from_literal(const std::string& text, const std::string& where);

  // Every match and every gap between them, in order, covering all of `text` (which must be valid
  // UTF-8); an empty text gives one empty gap. Empty matches are found as Oniguruma's iterator finds
  // them (never twice at the same place, never right after the previous match).
  std::vector<MatchSpan> find_matches(std::string_view text) const;

 private:
  explicit UnicodeRegex(std::shared_ptr<const CompiledRegex> compiled) : compiled_(std::move(compiled)) {}
  std::shared_ptr<const CompiledRegex> compiled_;  // immutable, shared by copies and threads
};

// A tokenizer.json pattern object: {"String": literal} or {"Regex": Oniguruma pattern}.
UnicodeRegex parse_pattern(const Json& pattern, const JsonField& field);

// Rewrites the escapes that Oniguruma and PCRE2 read differently: `\s`/`\S` (Oniguruma: the Unicode
// White_Space set; PCRE2 also counts U+180E), `\h`/`\H` (hex digits in Oniguruma, horizontal space in
// PCRE2) and `\v` (the VT character in Oniguruma). Throws fq::Error naming `where` for constructs it
// cannot translate.
std::string oniguruma_to_pcre2(std::string_view pattern, const std::string& where);

}  // namespace fq::io::tok
