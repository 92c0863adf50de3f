// tokenizer.json for synthetic checkpoints: a valid Hugging Face byte-level BPE tokenizer (LLaMA-3 style:
// Split pre-tokenizer with LLaMA-3's regex, ByteLevel pre-tokenizer and decoder, TemplateProcessing that
// prepends <|begin_of_text|>), optionally with merges learned from a corpus by a small BPE trainer.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lib/core/json.h"

namespace fq::model {

constexpr const char* kSyntheticBosToken = "<|begin_of_text|>";
constexpr const char* kSyntheticEosToken = "<|end_of_text|>";

// One learned merge: two byte-level symbols (as tokenizer.json writes them) joined into one token.
using BpeMerge = std::pair<std::string, std::string>;

// Learns up to `max_merges` merges from `corpus` (UTF-8 text): pre-tokenized with LLaMA-3's regex, each
// piece mapped to byte-level symbols, then repeatedly the most frequent adjacent pair is merged. Ties go
// to the pair of the smallest symbol ids (byte symbols numbered by code point, merged symbols in order of
// creation), as the HF BPE trainer breaks them. Stops early when no pair occurs twice. `where` names the
// corpus in errors (invalid UTF-8).
std::vector<BpeMerge> train_byte_level_bpe(const std::string& corpus, int64_t max_merges, const std::string& where);

// The tokenizer.json: ids 0 and 1 are <|begin_of_text|> and <|end_of_text|>, 2..257 the 256 byte
// symbols in code point order, then one token per merge.
Json byte_level_bpe_tokenizer(const std::vector<BpeMerge>& merges);

// The id of `token` in a tokenizer.json (its added_tokens, else model.vocab); throws naming `where` and
// the token when it has none.
int64_t tokenizer_token_id(const Json& tokenizer, const std::string& token, const std::string& where);

}  // namespace fq::model
