// The prompts of the original MMLU (hendrycks/test evaluate.py) and C-Eval (answer-only) evaluators,
// byte for byte: a subject header, k solved dev questions, then the question ending before its answer.
#pragma once

#include <string>

#include "pipelines/evaluate/choice_benchmark.h"

namespace fq::pipelines {

enum class ChoiceScoring {
  kLetter,  // the next-token logits of the four answer letters (the standard)
  kLoglik,  // the summed log-probability of each option's full text as the continuation
};
ChoiceScoring parse_choice_scoring(const std::string& name, const std::string& where);  // "letter" | "loglik"

// MMLU: "The following are multiple choice questions (with answers) about  <words>.\n\n" (the original's
// double space); C-Eval: "以下是中国关于<科目>考试的单项选择题，请选出其中的正确答案。\n\n".
std::string subject_header(ChoiceBenchmark b, const ChoiceSubject& subject);
// "<question>\nA. <a>\nB. <b>\nC. <c>\nD. <d>\nAnswer:" (C-Eval "\n答案："), plus " X\n\n" (C-Eval
// "X\n\n") when `with_answer`.
std::string format_question(ChoiceBenchmark b, const ChoiceQuestion& q, bool with_answer);
// Header and the first `shots` dev questions with answers: what every prompt of the subject begins with.
std::string few_shot_prefix(ChoiceBenchmark b, const ChoiceSubject& subject, int shots);
// few_shot_prefix, then `q` without its answer.
std::string build_prompt(ChoiceBenchmark b, const ChoiceSubject& subject, const ChoiceQuestion& q, int shots);
// What follows the prompt for option k: letter scoring " A" (MMLU) or "A" (C-Eval, no space after
// 答案：); loglik scoring the option's text, after a space for MMLU.
std::string answer_continuation(ChoiceBenchmark b, const ChoiceQuestion& q, int k, ChoiceScoring scoring);

}  // namespace fq::pipelines
