#include "pipelines/evaluate/perplexity_task.h"

#include "lib/core/atomic_file.h"
#include "lib/core/log.h"
#include "lib/core/stopwatch.h"
#include "lib/io/tokenizer.h"
#include "lib/model/perplexity.h"

namespace fq::pipelines {

Json run_perplexity(const io::Checkpoint& checkpoint, EvalForward& forward, EvalMethod method,
                    const PerplexityTask& task) {
  Stopwatch clock;
  const io::Tokenizer tokenizer = io::Tokenizer::from_model_dir(checkpoint.dir());
  const std::vector<int64_t> ids = tokenizer.encode(read_file(task.text_path));
  const at::Tensor windows = model::token_windows(ids, task.seqlen);
  if (forward.is_root()) {
    log::info("eval", "perplexity", {{"method", eval_method_name(method)}, {"tokens", static_cast<int64_t>(ids.size())},
                                     {"window", task.seqlen}});
  }
  const at::Tensor window_nll = forward.run({TokenWalk{{at::Tensor(), windows}}}, model::micro_batch_window_nll);
  if (!forward.is_root()) return Json::object();
  const model::PerplexityResult r = model::perplexity_of_window_nll(window_nll);
  return Json{{"task", "ppl"},
              {"text", task.text_path},
              {"seqlen", task.seqlen},
              {"tokens", static_cast<int64_t>(ids.size())},
              {"windows", static_cast<int64_t>(r.window_nll.size())},
              {"perplexity", r.perplexity},
              {"mean_nll", r.mean_nll},
              {"window_nll", r.window_nll},
              {"seconds", clock.seconds()}};
}

}  // namespace fq::pipelines
