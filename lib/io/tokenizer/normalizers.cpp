#include "lib/io/tokenizer/normalizers.h"

#include <vector>

#include "lib/io/tokenizer/unicode_regex.h"

namespace fq::io::tok {
namespace {

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void normalize(std::string* text) const override {
    for (const auto& step : steps_) step->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

// Prepends its text to any non-empty input (SentencePiece's leading "▁").
class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string* text) const override {
    if (!text->empty()) text->insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(UnicodeRegex pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string* text) const override {
    std::string out;
    out.reserve(text->size());
    for (const MatchSpan& span : pattern_.find_matches(*text)) {
      if (span.is_match) {
        out += content_;
      } else {
        out.append(*text, span.begin, span.end - span.begin);
      }
    }
    *text = std::move(out);
  }

 private:
  UnicodeRegex pattern_;
  std::string content_;
};

}  // namespace

std::unique_ptr<Normalizer> parse_normalizer(const Json& node, const JsonField& field) {
  if (node.is_null()) return nullptr;
  const std::string type = field.get<std::string>(node, "type");
  if (type == "Sequence") {
    return std::make_unique<SequenceNormalizer>(
        parse_component_list<Normalizer>(node, "normalizers", field, parse_normalizer));
  }
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(field.get<std::string>(node, "prepend"));
  if (type == "Replace") {
    return std::make_unique<ReplaceNormalizer>(parse_pattern(field.child(node, "pattern"), field / "pattern"),
                                               field.get<std::string>(node, "content"));
  }
  throw Error(str(field.where(), ": unsupported normalizer type '", type, "' (supported: Sequence, Prepend, Replace)"));
}

}  // namespace fq::io::tok
