#include "lib/model/synthetic_tokenizer.h"

#include <algorithm>
#include <array>
#include <memory>
#include <string_view>
#include <unordered_map>

#include <pcre2.h>

#include "lib/core/error.h"

namespace fq::model {
namespace {

// LLaMA-3's pre-tokenizer pattern (the regex string of its tokenizer.json, a format fact).
constexpr const char* kLlama3Pattern =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

std::string utf8(char32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

// GPT-2's byte-level alphabet: printable Latin-1 bytes stand for themselves, the other 68 bytes for
// U+0100 onwards in byte order. Symbols are numbered by code point, as the HF BPE trainer numbers its
// initial alphabet.
struct ByteAlphabet {
  std::array<std::string, 256> symbol_by_byte;  // UTF-8
  std::array<int, 256> id_by_byte{};            // rank of the byte's code point
  std::vector<std::string> symbols_by_id;
};

const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet = [] {
    ByteAlphabet a;
    std::array<char32_t, 256> code_point{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      code_point[b] = printable ? static_cast<char32_t>(b) : next++;
      a.symbol_by_byte[b] = utf8(code_point[b]);
    }
    std::array<int, 256> order{};
    for (int b = 0; b < 256; ++b) order[b] = b;
    std::sort(order.begin(), order.end(), [&](int x, int y) { return code_point[x] < code_point[y]; });
    for (int id = 0; id < 256; ++id) {
      a.id_by_byte[order[id]] = id;
      a.symbols_by_id.push_back(a.symbol_by_byte[order[id]]);
    }
    return a;
  }();
  return alphabet;
}

struct Pcre2CodeDeleter {
  void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
struct Pcre2MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

// LLaMA-3's Split pre-tokenizer (behavior Isolated): cuts text into every match and every gap.
class Llama3PreTokenizer {
 public:
  Llama3PreTokenizer() {
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    code_.reset(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kLlama3Pattern), PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_UCP, &error, &error_offset, nullptr));
    FQ_ASSERT(code_ != nullptr, "the LLaMA-3 pattern does not compile, PCRE2 error ", error);
    pcre2_jit_compile(code_.get(), PCRE2_JIT_COMPLETE);  // optional speed-up; matching works without it
    match_.reset(pcre2_match_data_create_from_pattern(code_.get(), nullptr));
  }

  // Appends the pieces of `text` to `out`; `where` names the text in errors (invalid UTF-8).
  void split(std::string_view text, const std::string& where, std::vector<std::string_view>* out) const {
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    std::size_t pos = 0;
    std::uint32_t options = 0;  // the UTF check runs once, on the first call
    while (pos < text.size()) {
      const int rc = pcre2_match(code_.get(), subject, text.size(), pos, options, match_.get(), nullptr);
      options = PCRE2_NO_UTF_CHECK;
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(rc, message, sizeof message);
        throw Error(str(where, ": cannot pre-tokenize: ", reinterpret_cast<const char*>(message)));
      }
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_.get());
      if (ovector[0] > pos) out->push_back(text.substr(pos, ovector[0] - pos));  // a gap
      FQ_ASSERT(ovector[1] > ovector[0], "the LLaMA-3 pattern matched the empty string");
      out->push_back(text.substr(ovector[0], ovector[1] - ovector[0]));
      pos = ovector[1];
    }
    if (pos < text.size()) out->push_back(text.substr(pos));
  }

 private:
  std::unique_ptr<pcre2_code, Pcre2CodeDeleter> code_;
  std::unique_ptr<pcre2_match_data, Pcre2MatchDataDeleter> match_;
};

using PairKey = std::uint64_t;
PairKey pair_key(int a, int b) { return (static_cast<std::uint64_t>(a) << 32) | static_cast<std::uint32_t>(b); }

// The BPE trainer's state: distinct words as symbol sequences with their counts, and the count of every
// adjacent symbol pair with the words it occurs in.
class BpeTrainer {
 public:
  explicit BpeTrainer(const std::unordered_map<std::string_view, int64_t>& word_counts) {
    const ByteAlphabet& alphabet = byte_alphabet();
    symbols_ = alphabet.symbols_by_id;
    for (const auto& [word, count] : word_counts) {
      std::vector<int> symbols;
      for (char ch : word) symbols.push_back(alphabet.id_by_byte[static_cast<unsigned char>(ch)]);
      words_.push_back(std::move(symbols));
      counts_.push_back(count);
    }
    // The merges depend on pair counts and symbol ids only, never on this (hash-map) word order.
    for (std::size_t w = 0; w < words_.size(); ++w) add_pairs(static_cast<int>(w), +1, -1);
  }

  // Merges the best pair; false when no pair occurs at least twice.
  bool merge_best(BpeMerge* merge) {
    PairKey best = 0;
    int64_t best_count = 0;
    for (const auto& [key, count] : pair_counts_) {
      if (count > best_count || (count == best_count && key < best)) {
        best = key;
        best_count = count;
      }
    }
    if (best_count < 2) return false;
    const int a = static_cast<int>(best >> 32);
    const int b = static_cast<int>(best & 0xFFFFFFFF);
    const int merged = static_cast<int>(symbols_.size());
    symbols_.push_back(symbols_[a] + symbols_[b]);
    *merge = {symbols_[a], symbols_[b]};

    std::vector<int> words = std::move(where_[best]);
    where_.erase(best);
    std::sort(words.begin(), words.end());
    words.erase(std::unique(words.begin(), words.end()), words.end());
    for (int w : words) {
      std::vector<int>& symbols = words_[w];
      bool contains = false;
      for (std::size_t i = 0; i + 1 < symbols.size() && !contains; ++i)
        contains = symbols[i] == a && symbols[i + 1] == b;
      if (!contains) continue;
      add_pairs(w, -1, -1);
      std::vector<int> out;
      for (std::size_t i = 0; i < symbols.size(); ++i) {
        if (i + 1 < symbols.size() && symbols[i] == a && symbols[i + 1] == b) {
          out.push_back(merged);
          ++i;
        } else {
          out.push_back(symbols[i]);
        }
      }
      symbols = std::move(out);
      add_pairs(w, +1, merged);
    }
    pair_counts_.erase(best);
    return true;
  }

 private:
  // Adds `sign` x the word's count to each of its pairs; records the word for pairs containing `index_symbol`
  // (every pair when -1), the only pairs whose where-list may lack it.
  void add_pairs(int w, int sign, int index_symbol) {
    const std::vector<int>& s = words_[w];
    for (std::size_t i = 0; i + 1 < s.size(); ++i) {
      const PairKey key = pair_key(s[i], s[i + 1]);
      auto it = pair_counts_.find(key);
      const int64_t now = (it == pair_counts_.end() ? 0 : it->second) + sign * counts_[w];
      if (now == 0) {
        if (it != pair_counts_.end()) pair_counts_.erase(it);
      } else {
        pair_counts_[key] = now;
      }
      if (sign > 0 && (index_symbol < 0 || s[i] == index_symbol || s[i + 1] == index_symbol)) where_[key].push_back(w);
    }
  }

  std::vector<std::string> symbols_;  // byte-level strings of every symbol id
  std::vector<std::vector<int>> words_;
  std::vector<int64_t> counts_;
  std::unordered_map<PairKey, int64_t> pair_counts_;
  std::unordered_map<PairKey, std::vector<int>> where_;
};

Json added_token(int64_t id, const std::string& content) {
  return {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", false}, {"special", true}};
}

}  // namespace

std::vector<BpeMerge> train_byte_level_bpe(const std::string& corpus, int64_t max_merges, const std::string& where) {
  // Line by line without the newline (as trainers fed an iterator of lines see the text): no piece spans
  // lines and newlines take part in no merge.
  const Llama3PreTokenizer pre_tokenizer;
  std::unordered_map<std::string_view, int64_t> word_counts;
  std::vector<std::string_view> pieces;
  const std::string_view text(corpus);
  int64_t line = 1;
  for (std::size_t begin = 0; begin < text.size(); ++line) {
    const std::size_t newline = text.find('\n', begin);
    const std::size_t end = newline == std::string_view::npos ? text.size() : newline;
    pieces.clear();
    pre_tokenizer.split(text.substr(begin, end - begin), str(where, " line ", line), &pieces);
    for (std::string_view piece : pieces) ++word_counts[piece];
    begin = end + 1;
  }
  BpeTrainer trainer(word_counts);
  std::vector<BpeMerge> merges;
  BpeMerge merge;
  while (static_cast<int64_t>(merges.size()) < max_merges && trainer.merge_best(&merge)) merges.push_back(merge);
  return merges;
}

Json byte_level_bpe_tokenizer(const std::vector<BpeMerge>& merges) {
  Json vocab = Json::object();
  vocab[kSyntheticBosToken] = 0;
  vocab[kSyntheticEosToken] = 1;
  int64_t next_id = 2;
  for (const std::string& symbol : byte_alphabet().symbols_by_id) vocab[symbol] = next_id++;
  Json merge_list = Json::array();
  for (const BpeMerge& m : merges) {
    merge_list.push_back({m.first, m.second});
    const std::string token = m.first + m.second;
    if (!vocab.contains(token)) vocab[token] = next_id++;
  }
  const Json bos_piece = {{"SpecialToken", {{"id", kSyntheticBosToken}, {"type_id", 0}}}};
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", {added_token(0, kSyntheticBosToken), added_token(1, kSyntheticEosToken)}},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"}, {"pattern", {{"Regex", kLlama3Pattern}}}, {"behavior", "Isolated"}, {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {bos_piece, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair",
         {bos_piece,
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
          bos_piece,
          {{"Sequence", {{"id", "B"}, {"type_id", 0}}}}}},
        {"special_tokens",
         {{kSyntheticBosToken, {{"id", kSyntheticBosToken}, {"ids", {0}}, {"tokens", {kSyntheticBosToken}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", false},
        {"vocab", vocab},
        {"merges", merge_list}}}};
}

int64_t tokenizer_token_id(const Json& tokenizer, const std::string& token, const std::string& where) {
  if (tokenizer.contains("added_tokens") && tokenizer["added_tokens"].is_array()) {
    for (const Json& t : tokenizer["added_tokens"]) {
      if (t.is_object() && t.value("content", "") == token && t.contains("id") && t["id"].is_number_integer()) {
        return t["id"].get<int64_t>();
      }
    }
  }
  if (tokenizer.contains("model") && tokenizer["model"].is_object() && tokenizer["model"].contains("vocab")) {
    const Json& vocab = tokenizer["model"]["vocab"];
    if (vocab.is_object() && vocab.contains(token) && vocab[token].is_number_integer())
      return vocab[token].get<int64_t>();
  }
  throw Error(str(where, ": tokenizer has no token '", token, "' (neither in added_tokens nor in model.vocab)"));
}

}  // namespace fq::model
