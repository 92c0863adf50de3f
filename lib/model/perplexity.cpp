#include "lib/model/perplexity.h"

#include <cmath>

#include <ATen/ATen.h>

#include "lib/core/error.h"

namespace fq::model {

at::Tensor token_windows(const std::vector<int64_t>& ids, int64_t window) {
  FQ_CHECK(window >= 2, "perplexity window must hold at least 2 tokens, got ", window);
  const int64_t n = static_cast<int64_t>(ids.size()) / window;
  FQ_CHECK(n > 0, "perplexity needs at least one window of ", window, " tokens, the text has ", ids.size());
  return at::tensor(std::vector<int64_t>(ids.begin(), ids.begin() + n * window), at::kLong).view({n, window});
}

at::Tensor window_mean_nll(const at::Tensor& logits, const at::Tensor& windows) {
  FQ_CHECK(
      logits.dim() == 3 && windows.dim() == 2 && logits.size(0) == windows.size(0) && logits.size(1) == windows.size(1),
      "logits ", logits.sizes(), " do not match windows ", windows.sizes());
  const int64_t s = windows.size(1);
  at::Tensor log_probs = at::log_softmax(logits.narrow(1, 0, s - 1).to(at::kFloat), -1);
  at::Tensor targets = windows.narrow(1, 1, s - 1).to(logits.device(), at::kLong).unsqueeze(-1);
  at::Tensor nll = -log_probs.gather(-1, targets).squeeze(-1);  // [n, s - 1]
  return nll.to(at::kDouble).mean(1);
}

at::Tensor micro_batch_window_nll(const OutputHead& head, int64_t, const at::Tensor& windows,
                                  const at::Tensor& hidden) {
  return window_mean_nll(head.logits(hidden), windows).cpu();
}

PerplexityResult perplexity_of_window_nll(const at::Tensor& nll) {
  const at::Tensor all = nll.to(at::kCPU, at::kDouble).contiguous();
  PerplexityResult result;
  result.window_nll.assign(all.data_ptr<double>(), all.data_ptr<double>() + all.numel());
  result.mean_nll = all.mean().item<double>();
  result.perplexity = std::exp(result.mean_nll);
  return result;
}

PerplexityResult perplexity(const io::Checkpoint& checkpoint, const std::vector<int64_t>& ids,
                            const PerplexityOptions& options, const HooksForLayer& hooks) {
  const at::Tensor windows = token_windows(ids, options.window);
  return perplexity_of_window_nll(
      walk_token_rows(checkpoint, {{at::Tensor(), windows}}, options.model, hooks, micro_batch_window_nll));
}

}  // namespace fq::model
