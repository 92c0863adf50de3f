// `--task mmlu|ceval`: multiple-choice accuracy of a model (full precision, RTN or FlatQuant) on MMLU or
// C-Eval in their released layouts, k-shot, scored by the answer letters' logits or by each option's
// log-likelihood; per-subject, per-category, micro and macro accuracy. Consecutive subjects are evaluated
// together in one call of the model forward (eval_forward.h: layer by layer on one rank, pipelined over
// several) until the call holds `sequences_per_walk` prompts; finished subjects are saved after each call
// (`state_path`), and a re-run with the same arguments skips them.
#pragma once

#include <cstdint>
#include <string>

#include "lib/core/json.h"
#include "pipelines/evaluate/choice_benchmark.h"
#include "pipelines/evaluate/choice_prompt.h"
#include "pipelines/evaluate/eval_forward.h"
#include "pipelines/evaluate/eval_model.h"

namespace fq::pipelines {

struct ChoiceTask {
  ChoiceBenchmark benchmark = ChoiceBenchmark::kMmlu;
  ChoiceDataOptions data;
  int shots = 5;
  ChoiceScoring scoring = ChoiceScoring::kLetter;
  int64_t max_tokens = 2048;  // a prompt (plus its longest continuation) longer than this drops shots
  int64_t sequences_per_walk = 256;  // prompts per pass through the layers (bounds activation memory); also
                                     // what one call gathers from consecutive subjects
  bool reuse_prefix = true;   // compute the subject's shared few-shot prefix once per walk, and with loglik
                              // scoring each question once for its four options (shared_prefix.h)
  std::string state_path;     // resume state ("" = none)
};

// Thrown on every rank by run_choice_task when a stop signal reached any rank: the finished subjects are in
// the state file, the subjects of the call in progress are dropped (the same command continues with them).
struct ChoiceTaskStopped {};

// Collective over the ranks of `forward` (`model` is the one it runs, described in the state file). On rank 0:
// {"task", "split", "scoring", "shots", "subjects": {name: {category, correct, total, accuracy, min_shots, scores}},
//  "categories": {name: {correct, total, accuracy}}, "micro_accuracy", "macro_accuracy", "questions"};
// elsewhere an empty object. Before each call it checks for a stop request (ChoiceTaskStopped).
Json run_choice_task(const io::Checkpoint& checkpoint, EvalForward& forward, const EvalModel& model,
                     const ChoiceTask& task);

// Categories, micro and macro accuracy from the per-subject results (the "subjects" object above).
Json aggregate_choice_results(const Json& subjects);

// The printed table: one line per subject, then categories and the averages.
std::string choice_results_table(const Json& report);

}  // namespace fq::pipelines
