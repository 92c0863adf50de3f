#include "lib/io/tokenizer/pre_tokenizers.h"

#include <algorithm>

#include "lib/io/tokenizer/byte_level_alphabet.h"
#include "lib/io/tokenizer/metaspace_options.h"
#include "lib/io/tokenizer/unicode_regex.h"
#include "lib/io/tokenizer/utf8.h"

namespace fq::io::tok {
namespace {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

SplitBehavior parse_behavior(const std::string& name, const JsonField& field) {
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  throw Error(str(field.where(), ": unknown split behavior '", name,
                  "' (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)"));
}

// Cuts `piece` along `spans` (matches and gaps covering it) the way HF's NormalizedString::split does
// for `behavior`, appending the non-empty, non-removed parts to `out`.
void split_piece(const PreToken& piece, const std::vector<MatchSpan>& spans, SplitBehavior behavior,
                 std::vector<PreToken>* out) {
  struct Cut {
    std::size_t begin, end;
    bool remove;
  };
  std::vector<Cut> cuts;
  cuts.reserve(spans.size());
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const MatchSpan& s : spans) cuts.push_back({s.begin, s.end, false});
      break;
    case SplitBehavior::kRemoved:
      for (const MatchSpan& s : spans) cuts.push_back({s.begin, s.end, s.is_match});
      break;
    case SplitBehavior::kContiguous:
      for (const MatchSpan& s : spans) {
        if (s.is_match == previous_match && !cuts.empty()) {
          cuts.back().end = s.end;
        } else {
          cuts.push_back({s.begin, s.end, false});
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const MatchSpan& s : spans) {
        if (s.is_match && !previous_match && !cuts.empty()) {
          cuts.back().end = s.end;
        } else {
          cuts.push_back({s.begin, s.end, false});
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !cuts.empty()) {
          cuts.back().begin = it->begin;
        } else {
          cuts.push_back({it->begin, it->end, false});
        }
        previous_match = it->is_match;
      }
      std::reverse(cuts.begin(), cuts.end());
      break;
  }
  for (const Cut& cut : cuts) {
    if (cut.remove || cut.end == cut.begin) continue;
    out->push_back({piece.text.substr(cut.begin, cut.end - cut.begin), piece.at_origin && cut.begin == 0});
  }
}

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void pre_tokenize(std::vector<PreToken>* pieces) const override {
    for (const auto& step : steps_) step->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(UnicodeRegex pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<PreToken>* pieces) const override {
    std::vector<PreToken> out;
    out.reserve(pieces->size());
    for (const PreToken& piece : *pieces) {
      std::vector<MatchSpan> spans = pattern_.find_matches(piece.text);
      if (invert_) {
        for (MatchSpan& s : spans) s.is_match = !s.is_match;
      }
      split_piece(piece, spans, behavior_, &out);
    }
    *pieces = std::move(out);
  }

 private:
  UnicodeRegex pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

// GPT-2's byte-level BPE: optional leading space, optional GPT-2 regex split, then every byte mapped to
// its printable code point.
class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}
  void pre_tokenize(std::vector<PreToken>* pieces) const override {
    std::vector<PreToken> split;
    split.reserve(pieces->size());
    for (PreToken& piece : *pieces) {
      if (add_prefix_space_ && piece.text[0] != ' ') piece.text.insert(0, " ");
      if (use_regex_) {
        split_piece(piece, gpt2_regex().find_matches(piece.text), SplitBehavior::kIsolated, &split);
      } else {
        split.push_back(std::move(piece));
      }
    }
    const ByteLevelAlphabet& alphabet = ByteLevelAlphabet::get();
    for (PreToken& piece : split) {
      std::string mapped;
      alphabet.encode_all(piece.text, &mapped);
      piece.text = std::move(mapped);
    }
    *pieces = std::move(split);
  }

 private:
  static const UnicodeRegex& gpt2_regex() {
    static const UnicodeRegex regex = UnicodeRegex::from_pattern(
        R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)", "the ByteLevel regex");
    return regex;
  }
  bool add_prefix_space_;
  bool use_regex_;
};

// SentencePiece-style: spaces become the replacement character ("▁"), one is prepended per the scheme,
// and the text is optionally cut before each replacement character.
class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(MetaspaceOptions options, const std::string& where)
      : replacement_(std::move(options.replacement)),
        scheme_(options.prepend_scheme),
        split_(options.split),
        replacement_regex_(UnicodeRegex::from_literal(replacement_, where)) {}
  void pre_tokenize(std::vector<PreToken>* pieces) const override {
    std::vector<PreToken> out;
    out.reserve(pieces->size());
    for (PreToken& piece : *pieces) {
      std::string text;
      text.reserve(piece.text.size() + replacement_.size());
      for (char c : piece.text) {
        if (c == ' ') {
          text += replacement_;
        } else {
          text.push_back(c);
        }
      }
      bool starts_with_replacement = text.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts_with_replacement &&
          (scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && piece.at_origin))) {
        text.insert(0, replacement_);
      }
      PreToken replaced{std::move(text), piece.at_origin};
      if (split_) {
        split_piece(replaced, replacement_regex_.find_matches(replaced.text), SplitBehavior::kMergedWithNext, &out);
      } else {
        out.push_back(std::move(replaced));
      }
    }
    *pieces = std::move(out);
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
  UnicodeRegex replacement_regex_;
};

}  // namespace

std::unique_ptr<PreTokenizer> parse_pre_tokenizer(const Json& node, const JsonField& field) {
  if (node.is_null()) return nullptr;
  const std::string type = field.get<std::string>(node, "type");
  if (type == "Sequence") {
    return std::make_unique<SequencePreTokenizer>(
        parse_component_list<PreTokenizer>(node, "pretokenizers", field, parse_pre_tokenizer));
  }
  if (type == "Split") {
    return std::make_unique<SplitPreTokenizer>(
        parse_pattern(field.child(node, "pattern"), field / "pattern"),
        parse_behavior(field.get<std::string>(node, "behavior"), field / "behavior"),
        field.get_or<bool>(node, "invert", false));
  }
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(field.get_or<bool>(node, "add_prefix_space", true),
                                                   field.get_or<bool>(node, "use_regex", true));
  }
  if (type == "Metaspace")
    return std::make_unique<MetaspacePreTokenizer>(parse_metaspace_options(node, field), field.where());
  throw Error(str(field.where(), ": unsupported pre_tokenizer type '", type,
                  "' (supported: Sequence, Split, ByteLevel, Metaspace)"));
}

}  // namespace fq::io::tok
