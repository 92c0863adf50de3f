#include "pipelines/evaluate/perplexity_task.h"

#include "lib/core/atomic_file.h"
#include "lib/core/log.h"
#include "lib/core/stopwatch.h"
#include "lib/io/tokenizer.h"
#include "lib/model/perplexity.h"

namespace fq::pipelines {

Json run_perplexity(const io::Checkpoint& checkpoint, EvalModel& model, const PerplexityTask& task,
                    const model::ModelOptions& options) {
  Stopwatch clock;
  const io::Tokenizer tokenizer = io::Tokenizer::from_model_dir(checkpoint.dir());
  const std::vector<int64_t> ids = tokenizer.encode(read_file(task.text_path));
  model::PerplexityOptions o;
  o.window = task.seqlen;
  o.model = options;
  log::info("eval", "perplexity", {{"method", eval_method_name(model.method())}, {"tokens", static_cast<int64_t>(ids.size())},
                                   {"window", task.seqlen}});
  const model::PerplexityResult r = model::perplexity(checkpoint, ids, o, model.hooks());
  return Json{{"task", "ppl"},
              {"text", task.text_path},
              {"seqlen", task.seqlen},
              {"tokens", static_cast<int64_t>(ids.size())},
              {"windows", static_cast<int64_t>(r.window_nll.size())},
              {"perplexity", r.perplexity},
              {"mean_nll", r.mean_nll},
              {"seconds", clock.seconds()}};
}

}  // namespace fq::pipelines
