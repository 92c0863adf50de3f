// tokenizer.json `model` of type BPE: vocabulary, ranked merges, and the merge loop of HF tokenizers
// (repeatedly merge the adjacent pair of lowest rank, leftmost first, via a min-heap over a linked list
// of symbols), with ignore_merges, byte_fallback (<0xNN> tokens), unk_token/fuse_unk,
// continuing_subword_prefix and end_of_word_suffix. Results per pre-token are cached.
//
// Without a pre-tokenizer (LLaMA-2) a "pre-token" is a whole document, and one merge loop over millions
// of symbols is slow. Such pieces are cut where no merge can ever cross: between two characters that are
// never adjacent inside any vocabulary token (merges only ever produce vocabulary tokens). Each side then
// merges exactly as it would have inside the whole, so the ids are unchanged.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "lib/io/tokenizer/json_field.h"

namespace fq::io::tok {

class BpeModel {
 public:
  // Parses the `model` object; errors name the file and field (merges naming out-of-vocabulary tokens,
  // malformed "a b" lines, duplicate ids, dropout, other model types).
  BpeModel(const Json& model, const JsonField& field);
  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  // Appends the ids of one pre-token (non-empty, valid UTF-8).
  void tokenize(std::string_view piece, std::vector<int32_t>* ids) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int32_t id) const;  // nullptr when no token has this id
  int64_t vocab_entries() const { return static_cast<int64_t>(vocab_.size()); }
  int32_t max_id() const { return static_cast<int32_t>(tokens_by_id_.size()) - 1; }

 private:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void merge_cached(std::string_view piece, std::vector<int32_t>* ids) const;
  void merge_word(std::string_view piece, std::vector<int32_t>* ids) const;
  int32_t unk_id() const;
  bool is_unknown_char(std::string_view character) const;
  // Whether no merge can join the characters `left` and `right` when they are adjacent.
  bool safe_cut(char32_t left, std::string_view left_utf8, char32_t right, std::string_view right_utf8) const;
  static uint64_t char_pair_key(char32_t a, char32_t b) { return (static_cast<uint64_t>(a) << 21) | b; }

  std::string file_;
  std::vector<std::string> tokens_by_id_;
  std::vector<bool> has_id_;
  std::unordered_map<std::string_view, int32_t> vocab_;  // keys view tokens_by_id_ (never resized after load)
  std::unordered_map<uint64_t, Merge> merges_;
  std::optional<std::string> unk_token_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  std::vector<int32_t> byte_fallback_ids_;  // id of <0xNN> per byte, -1 when absent

  // Cutting long pieces (see above) is exact only when symbols are plain text: no affixes, and no merge
  // taking a <0xNN> or unk symbol.
  static constexpr std::size_t kCutMinPieceBytes = 64;
  bool cuttable_ = false;
  std::unordered_set<uint64_t> inner_char_pairs_;  // code point pairs adjacent inside some token

  // Pre-token -> ids. HF caches words shorter than 256 bytes, up to a capacity; so do we.
  static constexpr std::size_t kCacheMaxPieceBytes = 256;
  static constexpr std::size_t kCacheCapacity = 1 << 18;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

}  // namespace fq::io::tok
