#include "lib/io/tokenizer/decoders.h"

#include "lib/io/tokenizer/byte_level_alphabet.h"
#include "lib/io/tokenizer/metaspace_options.h"
#include "lib/io/tokenizer/unicode_regex.h"
#include "lib/io/tokenizer/utf8.h"

namespace fq::io::tok {
namespace {

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  void decode_chain(std::vector<std::string>* tokens) const override {
    for (const auto& step : steps_) step->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

// Maps every character back to its byte and joins everything into one string; a token holding a
// character outside the alphabet (an added token such as DeepSeek's "<｜begin▁of▁sentence｜>")
// contributes its own UTF-8 bytes. Ill-formed UTF-8 in the result becomes U+FFFD.
class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>* tokens) const override {
    const ByteLevelAlphabet& alphabet = ByteLevelAlphabet::get();
    std::string bytes;
    std::string token_bytes;
    for (const std::string& token : *tokens) {
      token_bytes.clear();
      bool in_alphabet = true;
      std::size_t pos = 0;
      while (pos < token.size() && in_alphabet) {
        int byte = alphabet.decode(next_code_point(token, &pos));
        in_alphabet = byte >= 0;
        token_bytes.push_back(static_cast<char>(byte));
      }
      bytes += in_alphabet ? token_bytes : token;
    }
    *tokens = {utf8_lossy(bytes)};
  }
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(UnicodeRegex pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>* tokens) const override {
    for (std::string& token : *tokens) {
      std::string out;
      for (const MatchSpan& span : pattern_.find_matches(token)) {
        if (span.is_match) {
          out += content_;
        } else {
          out.append(token, span.begin, span.end - span.begin);
        }
      }
      token = std::move(out);
    }
  }

 private:
  UnicodeRegex pattern_;
  std::string content_;
};

// Runs of <0xNN> tokens become the string their bytes spell when that is valid UTF-8, otherwise one
// U+FFFD per byte.
class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>* tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens->size());
    std::string run;
    auto flush = [&] {
      if (run.empty()) return;
      if (find_invalid_utf8(run) == std::string::npos) {
        out.push_back(run);
      } else {
        for (std::size_t i = 0; i < run.size(); ++i) out.emplace_back(kReplacementChar);
      }
      run.clear();
    };
    for (std::string& token : *tokens) {
      int byte = parse_byte_token(token);
      if (byte >= 0) {
        run.push_back(static_cast<char>(byte));
      } else {
        flush();
        out.push_back(std::move(token));
      }
    }
    flush();
    *tokens = std::move(out);
  }

 private:
  static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  // "<0xNN>" -> NN; -1 otherwise. Like Rust's u8::from_str_radix, "+N" is accepted as well.
  static int parse_byte_token(const std::string& token) {
    if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return -1;
    int lo = hex_digit(token[4]);
    if (lo < 0) return -1;
    if (token[3] == '+') return lo;
    int hi = hex_digit(token[3]);
    return hi < 0 ? -1 : hi * 16 + lo;
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>* tokens) const override {
    std::string joined;
    for (const std::string& token : *tokens) joined += token;
    *tokens = {std::move(joined)};
  }
};

// Removes up to `start` leading and `stop` trailing copies of one character from every token.
class StripDecoder final : public Decoder {
 public:
  StripDecoder(char32_t content, std::size_t start, std::size_t stop) : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>* tokens) const override {
    for (std::string& token : *tokens) {
      std::vector<std::size_t> offsets;  // byte offset of every character, then the end
      std::vector<char32_t> chars;
      for (std::size_t pos = 0; pos < token.size();) {
        offsets.push_back(pos);
        chars.push_back(next_code_point(token, &pos));
      }
      offsets.push_back(token.size());
      std::size_t first = 0;
      while (first < start_ && first < chars.size() && chars[first] == content_) ++first;
      std::size_t last = chars.size();
      for (std::size_t i = 0; i < stop_ && last > first && chars[last - 1] == content_; ++i) --last;
      token = token.substr(offsets[first], offsets[last] - offsets[first]);
    }
  }

 private:
  char32_t content_;
  std::size_t start_;
  std::size_t stop_;
};

// The replacement character becomes a space, except in the first token, where it is dropped (the
// prefix the pre-tokenizer added) unless prepend_scheme is "never".
class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool drop_in_first)
      : replacement_(std::move(replacement)), drop_in_first_(drop_in_first) {}
  void decode_chain(std::vector<std::string>* tokens) const override {
    for (std::size_t i = 0; i < tokens->size(); ++i) {
      std::string& token = (*tokens)[i];
      std::string out;
      for (std::size_t pos = 0; pos < token.size();) {
        if (token.compare(pos, replacement_.size(), replacement_) == 0) {
          if (!(i == 0 && drop_in_first_)) out.push_back(' ');
          pos += replacement_.size();
        } else {
          std::size_t len = utf8_char_length(static_cast<unsigned char>(token[pos]));
          out.append(token, pos, len);
          pos += len;
        }
      }
      token = std::move(out);
    }
  }

 private:
  std::string replacement_;
  bool drop_in_first_;
};

}  // namespace

std::unique_ptr<Decoder> parse_decoder(const Json& node, const JsonField& field) {
  if (node.is_null()) return nullptr;
  const std::string type = field.get<std::string>(node, "type");
  if (type == "Sequence") {
    return std::make_unique<SequenceDecoder>(parse_component_list<Decoder>(node, "decoders", field, parse_decoder));
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Replace") {
    return std::make_unique<ReplaceDecoder>(parse_pattern(field.child(node, "pattern"), field / "pattern"),
                                            field.get<std::string>(node, "content"));
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    auto start = field.get<int64_t>(node, "start"), stop = field.get<int64_t>(node, "stop");
    FQ_CHECK(start >= 0 && stop >= 0, field.where(), ": start and stop must be non-negative");
    return std::make_unique<StripDecoder>(single_character(field.get<std::string>(node, "content"), field / "content"),
                                          static_cast<std::size_t>(start), static_cast<std::size_t>(stop));
  }
  if (type == "Metaspace") {
    MetaspaceOptions options = parse_metaspace_options(node, field);
    return std::make_unique<MetaspaceDecoder>(std::move(options.replacement),
                                              options.prepend_scheme != PrependScheme::kNever);
  }
  throw Error(str(field.where(), ": unsupported decoder type '", type,
                  "' (supported: Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace)"));
}

}  // namespace fq::io::tok
