// `--task ppl`: perplexity of a text file with the protocol of REFERENCE.md section 6 (the whole file
// encoded once with BOS, consecutive windows of `seqlen` tokens each fed alone, exp of the mean of the
// windows' mean next-token cross-entropies).
#pragma once

#include <string>

#include "lib/core/json.h"
#include "pipelines/evaluate/eval_forward.h"

namespace fq::pipelines {

struct PerplexityTask {
  std::string text_path;
  int64_t seqlen = 2048;
};

// Collective over the ranks of `forward`. On rank 0: {"perplexity", "mean_nll", "window_nll", "windows",
// "tokens", "seconds", ...}; elsewhere an empty object.
Json run_perplexity(const io::Checkpoint& checkpoint, EvalForward& forward, EvalMethod method,
                    const PerplexityTask& task);

}  // namespace fq::pipelines
