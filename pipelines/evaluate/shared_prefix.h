// Prefix reuse for MMLU / C-Eval: every prompt of a subject begins with the same few-shot prefix (header
// and solved dev questions), most of its tokens. The walk computes each distinct prefix once per layer and
// runs only the prompts' own tokens after it (model::PrefixedBatch, lib/model/prefix_kv.h); the scores
// equal those of whole prompts up to float summation order.
//
// The prefix is the encoding of the prefix text alone; a prompt uses it only where that encoding is a true
// token-prefix of the whole prompt's encoding (a tokenizer may merge tokens across the boundary or append
// an end-of-sequence token), otherwise the prompt is computed whole: the results never depend on it.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lib/io/checkpoint.h"
#include "lib/io/tokenizer.h"
#include "lib/model/causal_lm.h"
#include "pipelines/evaluate/choice_benchmark.h"

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

// A token sequence whose first `prefix_tokens` tokens (0: none) other sequences may share.
struct PrefixedTokens {
  const std::vector<int64_t>* ids = nullptr;
  int64_t prefix_tokens = 0;
};

// The last layer's hidden states of a set of sequences, each distinct prefix computed once.
class SequenceStates {
 public:
  // [count, hidden] at positions first..first+count-1 of sequence i (first at or after its prefix).
  at::Tensor positions(size_t i, int64_t first, int64_t count) const;

 private:
  friend SequenceStates run_prefixed_sequences(const io::Checkpoint&, const std::vector<PrefixedTokens>&,
                                               const model::ModelOptions&, const model::HooksForLayer&);
  struct Slot {
    size_t batch = 0;
    int64_t row = 0;
    int64_t first_position = 0;  // the batch's prefix length
  };
  std::vector<at::Tensor> batches_;  // [n, s, hidden] per distinct prefix
  std::vector<Slot> slots_;          // per sequence
};

// Runs `sequences` through the model in one walk: sequences with identical prefix tokens form one
// model::PrefixedBatch (their remaining tokens right-padded), those without a prefix another.
SequenceStates run_prefixed_sequences(const io::Checkpoint& checkpoint, const std::vector<PrefixedTokens>& sequences,
                                      const model::ModelOptions& options, const model::HooksForLayer& hooks);

}  // namespace fq::pipelines
