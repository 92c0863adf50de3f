#include "lib/io/tokenizer/bpe_model.h"

#include <cstdio>
#include <queue>

#include "lib/io/tokenizer/utf8.h"

namespace fq::io::tok {
namespace {

// A symbol of the word being merged: a doubly linked list over a vector, as in HF's Word.
struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  int32_t byte_len;  // 0 once merged into its left neighbour
};

struct QueuedMerge {
  int32_t rank;
  int32_t pos;
  int32_t new_id;
  // std::priority_queue pops the largest: invert so that the lowest rank, then leftmost, comes first.
  bool operator<(const QueuedMerge& other) const { return rank != other.rank ? rank > other.rank : pos > other.pos; }
};

// The two tokens of a merge, viewing the JSON's strings (no copies: files have ~10^5 merges).
// `merges_field` is the array: an element's path is only spelled out for an error.
std::pair<std::string_view, std::string_view> parse_merge(const Json& entry, const JsonField& merges_field,
                                                          std::size_t index) {
  if (entry.is_string()) {
    const std::string_view line = entry.get_ref<const std::string&>();
    std::size_t space = line.find(' ');
    FQ_CHECK(space != std::string::npos && line.find(' ', space + 1) == std::string::npos, merges_field[index].where(),
             ": expected \"a b\" (two tokens separated by one space), got \"", line, "\"");
    return {line.substr(0, space), line.substr(space + 1)};
  }
  FQ_CHECK(entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string(),
           merges_field[index].where(), ": expected \"a b\" or [\"a\", \"b\"], got ", entry.dump());
  return {entry[0].get_ref<const std::string&>(), entry[1].get_ref<const std::string&>()};
}

}  // namespace

BpeModel::BpeModel(const Json& model, const JsonField& field) : file_(field.file()) {
  FQ_CHECK(model.is_object(), field.where(), ": expected a JSON object");
  const std::string type = field.get_or<std::string>(model, "type", "BPE");  // older files omit it
  FQ_CHECK(type == "BPE", (field / "type").where(), ": unsupported model type '", type, "' (supported: BPE)");
  const double dropout = field.get_or<double>(model, "dropout", 0.0);
  FQ_CHECK(dropout == 0.0, (field / "dropout").where(), ": BPE dropout ", dropout,
           " makes encoding random; flatquant needs a deterministic tokenizer");

  // Vocabulary.
  const Json& vocab = field.child(model, "vocab");
  const JsonField vocab_field = field / "vocab";
  FQ_CHECK(vocab.is_object(), vocab_field.where(), ": expected an object {token: id}");
  int64_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    FQ_CHECK(it.value().is_number_integer() && it.value().get<int64_t>() >= 0 &&
                 it.value().get<int64_t>() < (int64_t{1} << 31),
             (vocab_field / it.key()).where(), ": expected a non-negative integer id, got ", it.value().dump());
    max_id = std::max(max_id, it.value().get<int64_t>());
  }
  tokens_by_id_.resize(static_cast<std::size_t>(max_id + 1));
  has_id_.assign(tokens_by_id_.size(), false);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    auto id = static_cast<std::size_t>(it.value().get<int64_t>());
    FQ_CHECK(!has_id_[id], vocab_field.where(), ": id ", id, " is given to both '", tokens_by_id_[id], "' and '",
             it.key(), "'");
    FQ_CHECK(find_invalid_utf8(it.key()) == std::string::npos, vocab_field.where(), ": token with id ", id,
             " is not valid UTF-8");
    tokens_by_id_[id] = it.key();
    has_id_[id] = true;
  }
  vocab_.reserve(vocab.size());
  for (std::size_t id = 0; id < tokens_by_id_.size(); ++id) {
    if (has_id_[id]) vocab_.emplace(tokens_by_id_[id], static_cast<int32_t>(id));
  }

  // Options.
  if (model.contains("unk_token") && !model["unk_token"].is_null())
    unk_token_ = field.get<std::string>(model, "unk_token");
  fuse_unk_ = field.get_or<bool>(model, "fuse_unk", false);
  byte_fallback_ = field.get_or<bool>(model, "byte_fallback", false);
  ignore_merges_ = field.get_or<bool>(model, "ignore_merges", false);
  continuing_subword_prefix_ = field.get_or<std::string>(model, "continuing_subword_prefix", "");
  end_of_word_suffix_ = field.get_or<std::string>(model, "end_of_word_suffix", "");
  byte_fallback_ids_.assign(256, -1);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    if (auto id = token_to_id(name)) byte_fallback_ids_[b] = *id;
  }

  // Merges: rank = position (legacy "#version" header lines excluded).
  const Json& merges = field.child(model, "merges");
  const JsonField merges_field = field / "merges";
  FQ_CHECK(merges.is_array(), merges_field.where(), ": expected an array");
  merges_.reserve(merges.size());
  int32_t rank = 0;
  std::string merged;
  for (std::size_t i = 0; i < merges.size(); ++i) {
    if (merges[i].is_string() && merges[i].get_ref<const std::string&>().rfind("#version", 0) == 0) continue;
    auto [a, b] = parse_merge(merges[i], merges_field, i);
    auto a_id = token_to_id(a), b_id = token_to_id(b);
    FQ_CHECK(a_id && b_id, merges_field[i].where(), ": merge token '", a_id ? b : a, "' is not in the vocabulary");
    FQ_CHECK(b.size() >= continuing_subword_prefix_.size(), merges_field[i].where(), ": merge token '", b,
             "' is shorter than continuing_subword_prefix");
    merged.assign(a);
    merged.append(b.substr(continuing_subword_prefix_.size()));
    auto new_id = token_to_id(merged);
    FQ_CHECK(new_id, merges_field[i].where(), ": merged token '", merged, "' is not in the vocabulary");
    merges_[pair_key(*a_id, *b_id)] = Merge{rank++, *new_id};  // a repeated pair keeps its last rank, as in HF
  }

  cuttable_ = continuing_subword_prefix_.empty() && end_of_word_suffix_.empty();
  std::optional<int32_t> unk = unk_token_ ? token_to_id(*unk_token_) : std::nullopt;
  for (const auto& [pair, merge] : merges_) {
    for (auto operand : {static_cast<int32_t>(pair >> 32), static_cast<int32_t>(pair & 0xFFFFFFFFu)}) {
      const std::string& text = tokens_by_id_[operand];
      bool byte_token = text.size() == 6 && text.compare(0, 3, "<0x") == 0 && text[5] == '>';
      if (byte_token || (unk && operand == *unk)) cuttable_ = false;
    }
  }
  if (cuttable_) {
    for (const std::string& token : tokens_by_id_) {
      std::size_t pos = 0;
      char32_t previous = 0;
      for (bool first = true; pos < token.size(); first = false) {
        char32_t cp = next_code_point(token, &pos);
        if (!first) inner_char_pairs_.insert(char_pair_key(previous, cp));
        previous = cp;
      }
    }
  }
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= tokens_by_id_.size() || !has_id_[id]) return nullptr;
  return &tokens_by_id_[id];
}

int32_t BpeModel::unk_id() const {
  auto id = token_to_id(*unk_token_);
  FQ_CHECK(id, "'", file_, "' field 'model.unk_token': '", *unk_token_, "' is not in the vocabulary");
  return *id;
}

bool BpeModel::is_unknown_char(std::string_view character) const {
  if (token_to_id(character)) return false;
  if (!byte_fallback_) return true;
  for (unsigned char b : character) {
    if (byte_fallback_ids_[b] < 0) return true;
  }
  return false;
}

bool BpeModel::safe_cut(char32_t left, std::string_view left_utf8, char32_t right, std::string_view right_utf8) const {
  if (inner_char_pairs_.count(char_pair_key(left, right))) return false;
  // Consecutive unknown characters fuse into one unk symbol: keep them together.
  return !(unk_token_ && fuse_unk_ && is_unknown_char(left_utf8) && is_unknown_char(right_utf8));
}

void BpeModel::tokenize(std::string_view piece, std::vector<int32_t>* ids) const {
  if (ignore_merges_) {
    if (auto id = token_to_id(piece)) {
      ids->push_back(*id);
      return;
    }
  }
  if (!cuttable_ || piece.size() < kCutMinPieceBytes) {
    merge_cached(piece, ids);
    return;
  }
  std::size_t chunk_begin = 0;
  std::size_t left_begin = 0;
  std::size_t pos = 0;
  char32_t left = next_code_point(piece, &pos);
  while (pos < piece.size()) {
    const std::size_t right_begin = pos;
    char32_t right = next_code_point(piece, &pos);
    if (safe_cut(left, piece.substr(left_begin, right_begin - left_begin), right,
                 piece.substr(right_begin, pos - right_begin))) {
      merge_cached(piece.substr(chunk_begin, right_begin - chunk_begin), ids);
      chunk_begin = right_begin;
    }
    left = right;
    left_begin = right_begin;
  }
  merge_cached(piece.substr(chunk_begin), ids);
}

void BpeModel::merge_cached(std::string_view piece, std::vector<int32_t>* ids) const {
  const bool cacheable = piece.size() < kCacheMaxPieceBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(std::string(piece));
    if (it != cache_.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> word;
  merge_word(piece, &word);
  ids->insert(ids->end(), word.begin(), word.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() < kCacheCapacity) cache_.emplace(std::string(piece), std::move(word));
  }
}

void BpeModel::merge_word(std::string_view piece, std::vector<int32_t>* ids) const {
  std::vector<Symbol> symbols;
  symbols.reserve(piece.size());
  auto add = [&symbols](int32_t id, int32_t byte_len) {
    auto index = static_cast<int32_t>(symbols.size());
    if (!symbols.empty()) symbols.back().next = index;
    symbols.push_back({id, index - 1, -1, byte_len});
  };

  // Initial symbols: one per character; unknown characters become <0xNN> bytes or (fused) unk.
  int32_t pending_unk_bytes = 0;  // bytes covered by an unk symbol not yet added (0: none)
  std::string with_affixes;
  std::size_t pos = 0;
  while (pos < piece.size()) {
    const std::size_t begin = pos;
    pos += utf8_char_length(static_cast<unsigned char>(piece[pos]));
    const auto byte_len = static_cast<int32_t>(pos - begin);
    std::string_view symbol = piece.substr(begin, pos - begin);
    if ((begin != 0 && !continuing_subword_prefix_.empty()) || (pos == piece.size() && !end_of_word_suffix_.empty())) {
      with_affixes.assign(begin != 0 ? continuing_subword_prefix_ : std::string());
      with_affixes.append(symbol);
      if (pos == piece.size()) with_affixes.append(end_of_word_suffix_);
      symbol = with_affixes;
    }
    if (auto id = token_to_id(symbol)) {
      if (pending_unk_bytes > 0) {
        add(unk_id(), pending_unk_bytes);
        pending_unk_bytes = 0;
      }
      add(*id, byte_len);
      continue;
    }
    if (byte_fallback_) {
      bool all_bytes_known = true;
      for (unsigned char b : symbol) all_bytes_known = all_bytes_known && byte_fallback_ids_[b] >= 0;
      if (all_bytes_known) {
        for (unsigned char b : symbol) add(byte_fallback_ids_[b], 1);
        continue;
      }
    }
    if (unk_token_) {
      if (pending_unk_bytes > 0 && !fuse_unk_) add(unk_id(), pending_unk_bytes);
      pending_unk_bytes = (pending_unk_bytes > 0 && fuse_unk_ ? pending_unk_bytes : 0) + byte_len;
    }
    // Without unk_token an unknown character is dropped, as HF does.
  }
  if (pending_unk_bytes > 0) add(unk_id(), pending_unk_bytes);

  // Merge loop. Entries go stale when a neighbour changes; they are recognised by re-looking the pair up.
  std::priority_queue<QueuedMerge> queue;
  auto push_pair = [&](int32_t left) {
    const Symbol& l = symbols[left];
    auto it = merges_.find(pair_key(l.id, symbols[l.next].id));
    if (it != merges_.end()) queue.push({it->second.rank, left, it->second.new_id});
  };
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i) push_pair(i);
  while (!queue.empty()) {
    const QueuedMerge top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (left.byte_len == 0 || left.next == -1) continue;
    const Symbol right = symbols[left.next];
    auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;
    symbols[left.next].byte_len = 0;
    left.id = top.new_id;
    left.byte_len += right.byte_len;
    left.next = right.next;
    if (right.next != -1) symbols[right.next].prev = top.pos;
    if (left.prev != -1) push_pair(left.prev);
    if (left.next != -1) push_pair(top.pos);
  }
  for (const Symbol& s : symbols) {
    if (s.byte_len != 0) ids->push_back(s.id);
  }
}

}  // namespace fq::io::tok
