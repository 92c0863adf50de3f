#include "lib/io/tokenizer/unicode_regex.h"

#include <pcre2.h>

#include "lib/core/error.h"
#include "lib/io/tokenizer/utf8.h"

namespace fq::io::tok {

struct CompiledRegex {
  pcre2_code* code = nullptr;
  std::string pattern;  // as handed to PCRE2, for error messages
  std::string where;    // the file and field it came from
  CompiledRegex() = default;
  CompiledRegex(const CompiledRegex&) = delete;
  CompiledRegex& operator=(const CompiledRegex&) = delete;
  ~CompiledRegex() { pcre2_code_free(code); }
};

namespace {

constexpr uint32_t kCompileOptions = PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE;
// U+180E MONGOLIAN VOWEL SEPARATOR: \s in PCRE2, not White_Space (so not \s) in Oniguruma.
constexpr std::string_view kMvs = "\\x{180E}";
constexpr std::string_view kMvsUtf8 = "\xE1\xA0\x8E";

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

std::shared_ptr<CompiledRegex> compile(const std::string& pattern, uint32_t options, const std::string& where) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error, &offset, nullptr);
  FQ_CHECK(code != nullptr, where, ": invalid regular expression '", pattern, "' at offset ", offset, ": ",
           pcre2_message(error));
  auto compiled = std::make_shared<CompiledRegex>();
  compiled->code = code;
  compiled->pattern = pattern;
  compiled->where = where;
  // The JIT is an optimisation: without it (unsupported CPU, no executable memory) the interpreter runs.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  return compiled;
}

// Whether the character class `cls` (text from '[' to ']') matches U+180E.
bool class_matches_mvs(const std::string& cls, const std::string& where) {
  auto compiled = compile("^" + cls + "$", kCompileOptions, where);
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(compiled->code, nullptr);
  int rc =
      pcre2_match(compiled->code, reinterpret_cast<PCRE2_SPTR>(kMvsUtf8.data()), kMvsUtf8.size(), 0, 0, md, nullptr);
  pcre2_match_data_free(md);
  return rc > 0;
}

// Translates one character class starting at pattern[*pos] == '['; advances *pos past its ']'.
std::string translate_class(std::string_view pattern, std::size_t* pos, const std::string& where) {
  std::string pcre;  // PCRE2 reading
  std::string onig;  // the same class with \s/\S replaced so that PCRE2 gives Oniguruma's answer on U+180E
  bool has_space_escape = false;
  std::size_t i = *pos;
  auto take = [&](std::string_view both) {
    pcre.append(both);
    onig.append(both);
  };
  take("[");
  ++i;
  if (i < pattern.size() && pattern[i] == '^') take(std::string_view(&pattern[i++], 1));
  if (i < pattern.size() && pattern[i] == ']') take(std::string_view(&pattern[i++], 1));  // literal ']'
  while (true) {
    FQ_CHECK(i < pattern.size(), where, ": unterminated character class in regular expression '", pattern, "'");
    char c = pattern[i];
    if (c == ']') {
      take("]");
      ++i;
      break;
    }
    if (c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {  // POSIX [:name:]
      std::size_t close = pattern.find(":]", i + 2);
      FQ_CHECK(close != std::string_view::npos, where, ": unterminated POSIX class in '", pattern, "'");
      take(pattern.substr(i, close + 2 - i));
      i = close + 2;
      continue;
    }
    if (c == '\\' && i + 1 < pattern.size()) {
      char e = pattern[i + 1];
      i += 2;
      if (e == 's' || e == 'S') {
        has_space_escape = true;
        pcre.append(e == 's' ? "\\s" : "\\S");
        // Oniguruma: \s never contains U+180E, \S always does; \t stands for "some space but not U+180E".
        onig.append(e == 's' ? std::string("\\t") : std::string(kMvs));
      } else if (e == 'h') {
        take("0-9a-fA-F");
      } else if (e == 'H') {
        throw Error(str(where, ": '\\H' inside a character class has no PCRE2 equivalent (regular expression '",
                        pattern, "')"));
      } else if (e == 'v') {
        take("\\x{0B}");
      } else {
        take(pattern.substr(i - 2, 2));
      }
      continue;
    }
    take(std::string_view(&pattern[i++], 1));
  }
  *pos = i;
  if (!has_space_escape) return pcre;
  bool pcre_has = class_matches_mvs(pcre, where);
  bool onig_has = class_matches_mvs(onig, where);
  if (pcre_has == onig_has) return pcre;
  return onig_has ? str("(?:", pcre, "|", kMvs, ")") : str("(?:(?!", kMvs, ")", pcre, ")");
}

}  // namespace

std::string oniguruma_to_pcre2(std::string_view pattern, const std::string& where) {
  std::string out;
  out.reserve(pattern.size() + 16);
  std::size_t i = 0;
  while (i < pattern.size()) {
    char c = pattern[i];
    if (c == '[') {
      out += translate_class(pattern, &i, where);
      continue;
    }
    if (c == '\\' && i + 1 < pattern.size()) {
      char e = pattern[i + 1];
      i += 2;
      switch (e) {
        case 's':
          out += str("(?:(?!", kMvs, ")\\s)");
          break;
        case 'S':
          out += str("(?:\\S|", kMvs, ")");
          break;
        case 'h':
          out += "[0-9a-fA-F]";
          break;
        case 'H':
          out += "[^0-9a-fA-F]";
          break;
        case 'v':
          out += "\\x{0B}";
          break;
        default:
          out.append(pattern.substr(i - 2, 2));
      }
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

UnicodeRegex UnicodeRegex::from_pattern(const std::string& oniguruma_pattern, const std::string& where) {
  return UnicodeRegex(compile(oniguruma_to_pcre2(oniguruma_pattern, where), kCompileOptions, where));
}

UnicodeRegex UnicodeRegex::from_literal(const std::string& text, const std::string& where) {
  return UnicodeRegex(compile(text, PCRE2_UTF | PCRE2_LITERAL, where));  // LITERAL admits no UCP/MULTILINE
}

UnicodeRegex parse_pattern(const Json& pattern, const JsonField& field) {
  FQ_CHECK(pattern.is_object() && pattern.size() == 1, field.where(),
           ": expected {\"String\": ...} or {\"Regex\": ...}, got ", pattern.dump());
  if (pattern.contains("String"))
    return UnicodeRegex::from_literal(field.get<std::string>(pattern, "String"), field.where());
  FQ_CHECK(pattern.contains("Regex"), field.where(), ": expected {\"String\": ...} or {\"Regex\": ...}, got ",
           pattern.dump());
  return UnicodeRegex::from_pattern(field.get<std::string>(pattern, "Regex"), field.where());
}

std::vector<MatchSpan> UnicodeRegex::find_matches(std::string_view text) const {
  std::vector<MatchSpan> spans;
  if (text.empty()) {
    spans.push_back({0, 0, false});
    return spans;
  }
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
      pcre2_match_data_create_from_pattern(compiled_->code, nullptr), &pcre2_match_data_free);
  FQ_CHECK(md != nullptr, "out of memory for PCRE2 match data");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t prev = 0;       // end of the last piece pushed
  std::size_t search_at = 0;  // where the next search starts
  bool have_last_match = false;
  std::size_t last_match_end = 0;
  while (search_at <= text.size()) {
    // The text was validated once by the caller: re-checking it on every call would be quadratic.
    int rc = pcre2_match(compiled_->code, subject, text.size(), search_at, PCRE2_NO_UTF_CHECK, md.get(), nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {  // deep backtracking: the interpreter keeps its frames on the heap
      rc = pcre2_match(compiled_->code, subject, text.size(), search_at, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md.get(),
                       nullptr);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    FQ_CHECK(rc > 0, compiled_->where, ": regular expression '", compiled_->pattern, "' failed on a text of ",
             text.size(), " bytes: ", pcre2_message(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(md.get());
    std::size_t begin = ovector[0], end = ovector[1];
    if (begin == end && have_last_match && end == last_match_end) {
      // An empty match right after the previous match is skipped; step over one character.
      if (search_at >= text.size()) break;
      search_at += utf8_char_length(static_cast<unsigned char>(text[search_at]));
      continue;
    }
    if (prev != begin) spans.push_back({prev, begin, false});
    spans.push_back({begin, end, true});
    prev = end;
    have_last_match = true;
    last_match_end = end;
    if (begin == end) {
      if (end >= text.size()) break;
      search_at = end + utf8_char_length(static_cast<unsigned char>(text[end]));
    } else {
      search_at = end;
    }
  }
  if (prev != text.size()) spans.push_back({prev, text.size(), false});
  return spans;
}

}  // namespace fq::io::tok
