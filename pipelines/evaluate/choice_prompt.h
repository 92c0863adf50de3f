// The prompts of the original MMLU (hendrycks/test evaluate.py) and C-Eval (answer-only) evaluators,
// byte for byte: a subject header, k solved dev questions, then the question ending before its answer.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "pipelines/evaluate/choice_benchmark.h"

namespace fq::io {
class Tokenizer;
}

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
// The encoded prompt of `q` (with the tokenizer's special tokens) and its number of shots (`*shots_used`): the
// first `shots` dev questions, dropped from the end while the prompt plus its longest continuation exceeds
// `max_tokens`, as the original MMLU evaluator does (`while crop(prompt) != prompt: k -= 1`, its 2048-token
// crop). Letter scoring has no continuation (`continuations` empty): a prompt of exactly `max_tokens` fits.
// A question too long even without shots loses its first tokens (`*dropped_tokens` of them, else 0), as
// lm-evaluation-harness truncates a context from the left; a continuation that alone fills `max_tokens` is
// an error naming the subject.
std::vector<int64_t> fitted_prompt(const io::Tokenizer& tok, ChoiceBenchmark b, const ChoiceSubject& s,
                                   const ChoiceQuestion& q, int shots, int64_t max_tokens,
                                   const std::vector<std::vector<int64_t>>& continuations, int* shots_used,
                                   int64_t* dropped_tokens);
// What follows the prompt for option k: letter scoring " A" (MMLU) or "A" (C-Eval, no space after
// 答案：); loglik scoring the option's text, after a space for MMLU.
std::string answer_continuation(ChoiceBenchmark b, const ChoiceQuestion& q, int k, ChoiceScoring scoring);

// The tokens `continuation` adds after a prompt, as the tokenizer splits the two together
// (lm-evaluation-harness: encode(context + continuation) past the length of encode(context)), the context being
// the answer cue every prompt ends with ("Answer:", "答案："). Encoded alone, a continuation would begin a text:
// a SentencePiece-style tokenizer (LLaMA-2) prepends its word marker, so " A" would give "▁" + "A", not "▁A".
std::vector<int64_t> encode_continuation(const io::Tokenizer& tok, ChoiceBenchmark b, const std::string& continuation);

// The tokens whose next-token logits letter scoring compares, A..D. MMLU: the first token " A" adds after
// "Answer:" (REFERENCE-EVAL-CLUSTER.md: tok("Answer: A") minus tok("Answer:")); C-Eval: the first token of "A"
// encoded alone, as the official evaluator does (llama.py: encode("A")[0]). Two letters on one token are an error.
std::array<int64_t, 4> letter_token_ids(const io::Tokenizer& tok, ChoiceBenchmark b);

}  // namespace fq::pipelines
