// `--task ppl`: perplexity of a text file with the protocol of REFERENCE.md section 6 (the whole file
// encoded once with BOS, consecutive windows of `seqlen` tokens each fed alone, exp of the mean of the
// windows' mean next-token cross-entropies).
#pragma once

#include <string>

#include "lib/core/json.h"
#include "lib/model/causal_lm.h"
#include "pipelines/evaluate/eval_model.h"

namespace fq::pipelines {

struct PerplexityTask {
  std::string text_path;
  int64_t seqlen = 2048;
};

// Returns {"perplexity", "mean_nll", "windows", "tokens", "seconds", ...}.
Json run_perplexity(const io::Checkpoint& checkpoint, EvalModel& model, const PerplexityTask& task,
                    const model::ModelOptions& options);

}  // namespace fq::pipelines
