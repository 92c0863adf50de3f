// Small multiple-choice sets in the released MMLU / C-Eval layouts, for tests that run `flatquant eval
// --task mmlu|ceval`: the real sets cannot be downloaded here, so the questions come from a text the tiny
// models were trained on (../shared/data/kjv/kjv.valid.txt, held out from training). Each question is the
// start of a sentence, the options its true continuation and three shuffles of the same words (a model
// must know the language to prefer the real order). And the comparison of two evaluations' per-question
// scores that prefix reuse and pipelining must pass.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lib/core/json.h"

namespace fq::test {

struct ChoiceItem {
  std::string question;
  std::vector<std::string> options;  // four
  int answer = 0;
};

// Sentences of `text` of at least 8 + 5 words, split into question and answer spans; the distractors are
// distinct shuffles of the answer's words; the answer's position is random (fixed `seed`).
std::vector<ChoiceItem> make_choice_items(const std::string& text, uint32_t seed);

// MMLU layout (no header) or C-Eval layout (header, id column) under `dir` of `subjects` (at most 3)
// subjects with `per_subject` test/val questions and 5 dev questions each, taken from `items` in order.
void write_choice_dataset(const std::string& dir, bool ceval, const std::vector<ChoiceItem>& items, int subjects,
                          int per_subject);

// How far prefix reuse (or any other batch layout) may move a score: float32 summation order differs (other
// GEMM and attention shapes), which a 4-bit activation quantizer turns, rarely, into a code step somewhere,
// moving a score further. Measured on 5-shot loglik RTN W4A4 scores of magnitude ~30-55: tiny-deepseek-v3 all
// within 9.5e-6; tiny-llama3 all within 7.2e-6 but one option at 1.1e-4 (on a 24-question 5-shot set: 94 of
// 96 within 2e-5, then 3.4e-5 and 8.9e-4). So: most scores within the float-order bound, all within the
// code-step bound; a wrong position or key would move them all by ~1.
constexpr double kFloatOrderScoreTol = 1e-4;  // for at least kFloatOrderShare of the scores
constexpr double kFloatOrderShare = 0.9;
constexpr double kCodeStepScoreTol = 1e-2;  // for every score

struct ChoiceScoreAgreement {
  double worst = 0;  // largest |score difference|
  int scores = 0;
  int within_float_order = 0;
};

// Expects (gtest) the two results of `flatquant eval --task mmlu|ceval` (the report's "result") to hold the
// same subjects, each with `questions` questions (0: any number), the same correct counts and accuracy table,
// and per-question scores within the bounds above; `what` names the comparison in failures.
ChoiceScoreAgreement expect_choice_scores_agree(const Json& expected, const Json& actual, const std::string& what,
                                                int questions = 0);

}  // namespace fq::test
