// Prefix reuse for MMLU / C-Eval: every prompt of a subject begins with the same few-shot prefix (header
// and solved dev questions), most of its tokens. The walk (or each stage of the pipeline over ranks,
// eval_forward.h) computes each distinct prefix once per layer and runs only the prompts' own tokens after
// it (model::PrefixedBatch, lib/model/prefix_kv.h); the scores equal those of whole prompts up to float
// summation order. With loglik scoring a question's four option sequences also share the question: it is
// their stem, computed once after the prefix, and each option runs only its own tokens after both.
//
// The prefix is the encoding of the prefix text alone; a prompt uses it only where that encoding is a true
// token-prefix of the whole prompt's encoding (a tokenizer may merge tokens across the boundary or append
// an end-of-sequence token), otherwise the prompt is computed whole: the results never depend on it.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "lib/io/tokenizer.h"
#include "pipelines/evaluate/choice_benchmark.h"
#include "pipelines/evaluate/eval_forward.h"

namespace fq::pipelines {

// The encoded few-shot prefixes of one subject, by number of shots (each encoded on first use).
class FewShotPrefixes {
 public:
  FewShotPrefixes(const io::Tokenizer& tok, ChoiceBenchmark benchmark, const ChoiceSubject& subject);
  // How many leading tokens of `prompt` (built with `shots` shots) the subject's prompts share: the length of
  // the prefix's encoding when that is a token-prefix of `prompt` and shorter than it; 0 otherwise.
  int64_t shared_tokens(int shots, const std::vector<int64_t>& prompt);

 private:
  const io::Tokenizer& tok_;
  ChoiceBenchmark benchmark_;
  const ChoiceSubject& subject_;
  std::map<int, std::vector<int64_t>> encoded_;
};

// A token sequence whose first `prefix_tokens` tokens (0: none) other sequences may share, and whose next
// `stem_tokens` (0: none) fewer of them share too (with loglik scoring: the question its four options share).
struct PrefixedTokens {
  const std::vector<int64_t>* ids = nullptr;
  int64_t prefix_tokens = 0;
  int64_t stem_tokens = 0;
};

// One walk's sequences grouped by prefix: sequences with identical prefix tokens form one batch of token
// rows (their remaining tokens right-padded; causal attention keeps the padding out of every position that
// is read), those without a prefix another, in order of first appearance. Within a batch where some
// sequence has a stem, sequences with identical stem tokens form one group of rows (model::PrefixedBatch),
// the stem computed once, in order of first appearance too.
struct PrefixGroups {
  TokenWalk walk;
  std::vector<size_t> sequence_of_row;  // the walk's rows, batch after batch -> index into the sequences
  int64_t tokens = 0;        // token positions the walk computes (prefixes and stems once, padded own tokens)
  int64_t tokens_whole = 0;  // what the whole sequences, right-padded to the longest, would take
  int64_t stems = 0;         // stems computed (each once)
};
PrefixGroups group_by_prefix(const std::vector<PrefixedTokens>& sequences);

}  // namespace fq::pipelines
