// Perplexity of a token stream (REFERENCE.md section 6): consecutive non-overlapping windows, each fed
// alone, mean cross-entropy of each window's next-token predictions, exp of the mean over windows.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lib/io/checkpoint.h"
#include "lib/model/causal_lm.h"

namespace fq::model {

struct PerplexityOptions {
  int64_t window = 256;  // tokens per window (the goldens use 256, WikiText-2 protocols 2048)
  ModelOptions model;
};

struct PerplexityResult {
  double perplexity = 0;
  double mean_nll = 0;             // mean over windows of each window's mean cross-entropy (nats)
  std::vector<double> window_nll;  // per window
};

// ids (BOS already prepended by the tokenizer) -> [floor(len / window), window] int64; the tail is dropped.
at::Tensor token_windows(const std::vector<int64_t>& ids, int64_t window);

// logits: [n, s, vocab] float32, windows: [n, s]. Mean cross-entropy of each window's s - 1 predictions of
// its next token, [n] float64.
at::Tensor window_mean_nll(const at::Tensor& logits, const at::Tensor& windows);

// The RowResults of perplexity (lib/model/causal_lm.h): window_mean_nll of one micro-batch of windows [m, s]
// from their last hidden states, [m] float64 on the CPU.
at::Tensor micro_batch_window_nll(const OutputHead& head, int64_t first_row, const at::Tensor& windows,
                                  const at::Tensor& hidden);

// exp of the mean of the windows' NLLs nll [n] (float64), with the per-window values.
PerplexityResult perplexity_of_window_nll(const at::Tensor& nll);

// The whole protocol on `checkpoint` (hooks as in run_decoder_layers). The head runs options.micro_batch
// windows at a time, so full-vocabulary logits never exist for all windows at once.
PerplexityResult perplexity(const io::Checkpoint& checkpoint, const std::vector<int64_t>& ids,
                            const PerplexityOptions& options, const HooksForLayer& hooks = {});

}  // namespace fq::model
