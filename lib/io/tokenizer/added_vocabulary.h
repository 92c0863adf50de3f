// tokenizer.json `added_tokens`: tokens matched in the text before the normalizer and pre-tokenizer
// run (special tokens such as <|begin_of_text|>). Matching is leftmost-longest, as HF's Aho-Corasick.
// Tokens with `normalized: false` are matched in the raw text; those with `normalized: true` in the
// normalized text, by their normalized content.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace fq::io::tok {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool normalized = false;
};

// A stretch of text: an added token (id >= 0) or the text between tokens (id == -1).
struct TextSegment {
  std::string_view text;
  int32_t id = -1;
  std::size_t offset = 0;  // byte offset in the searched text
};

class AddedVocabulary {
 public:
  // `match_content` is what is searched for: the content, or for normalized tokens the normalized one.
  void add(const AddedToken& token, const std::string& match_content);

  // Splits `text` on the raw (normalized == false) or the normalized tokens; covers all of `text`.
  std::vector<TextSegment> split(std::string_view text, bool normalized_tokens) const;

  std::optional<int32_t> token_to_id(std::string_view content) const;
  const AddedToken* by_id(int32_t id) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  // A byte trie; node 0 is the root.
  struct Trie {
    struct Node {
      std::vector<std::pair<unsigned char, int32_t>> children;  // sorted by byte
      int32_t token_id = -1;
    };
    std::vector<Node> nodes{1};
    void insert(std::string_view key, int32_t id);
    // The id and length of the longest key that starts at text[pos], if any.
    std::optional<std::pair<int32_t, std::size_t>> longest_at(std::string_view text, std::size_t pos) const;
  };

  std::vector<AddedToken> tokens_;
  std::unordered_map<std::string, std::size_t> index_by_content_;
  std::unordered_map<int32_t, std::size_t> index_by_id_;
  Trie raw_trie_;
  Trie normalized_trie_;
};

}  // namespace fq::io::tok
