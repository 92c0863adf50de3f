#include "lib/io/tokenizer/added_vocabulary.h"

#include <algorithm>

namespace fq::io::tok {

void AddedVocabulary::Trie::insert(std::string_view key, int32_t id) {
  int32_t node = 0;
  for (unsigned char byte : key) {
    auto& children = nodes[node].children;
    auto it = std::lower_bound(children.begin(), children.end(), byte,
                               [](const auto& child, unsigned char b) { return child.first < b; });
    if (it != children.end() && it->first == byte) {
      node = it->second;
      continue;
    }
    auto next = static_cast<int32_t>(nodes.size());
    children.insert(it, {byte, next});  // `children` may dangle after the push_back below: not used again
    nodes.emplace_back();
    node = next;
  }
  nodes[node].token_id = id;
}

std::optional<std::pair<int32_t, std::size_t>> AddedVocabulary::Trie::longest_at(std::string_view text,
                                                                                 std::size_t pos) const {
  std::optional<std::pair<int32_t, std::size_t>> best;
  int32_t node = 0;
  for (std::size_t i = pos; i < text.size(); ++i) {
    const auto& children = nodes[node].children;
    auto byte = static_cast<unsigned char>(text[i]);
    auto it = std::lower_bound(children.begin(), children.end(), byte,
                               [](const auto& child, unsigned char b) { return child.first < b; });
    if (it == children.end() || it->first != byte) break;
    node = it->second;
    if (nodes[node].token_id >= 0) best = std::make_pair(nodes[node].token_id, i + 1 - pos);
  }
  return best;
}

void AddedVocabulary::add(const AddedToken& token, const std::string& match_content) {
  index_by_content_.emplace(token.content, tokens_.size());
  index_by_id_[token.id] = tokens_.size();
  tokens_.push_back(token);
  if (!match_content.empty()) (token.normalized ? normalized_trie_ : raw_trie_).insert(match_content, token.id);
}

std::vector<TextSegment> AddedVocabulary::split(std::string_view text, bool normalized_tokens) const {
  const Trie& trie = normalized_tokens ? normalized_trie_ : raw_trie_;
  std::vector<TextSegment> segments;
  std::size_t gap_begin = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto match = trie.nodes[0].children.empty() ? std::nullopt : trie.longest_at(text, pos);
    if (!match) {
      ++pos;
      continue;
    }
    if (gap_begin < pos) segments.push_back({text.substr(gap_begin, pos - gap_begin), -1, gap_begin});
    segments.push_back({text.substr(pos, match->second), match->first, pos});
    pos += match->second;
    gap_begin = pos;
  }
  if (gap_begin < text.size()) segments.push_back({text.substr(gap_begin), -1, gap_begin});
  return segments;
}

std::optional<int32_t> AddedVocabulary::token_to_id(std::string_view content) const {
  auto it = index_by_content_.find(std::string(content));
  if (it == index_by_content_.end()) return std::nullopt;
  return tokens_[it->second].id;
}

const AddedToken* AddedVocabulary::by_id(int32_t id) const {
  auto it = index_by_id_.find(id);
  return it == index_by_id_.end() ? nullptr : &tokens_[it->second];
}

}  // namespace fq::io::tok
