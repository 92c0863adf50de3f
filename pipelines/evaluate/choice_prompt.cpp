#include "pipelines/evaluate/choice_prompt.h"

#include <algorithm>

#include "lib/core/error.h"

namespace fq::pipelines {

ChoiceScoring parse_choice_scoring(const std::string& name, const std::string& where) {
  if (name == "letter") return ChoiceScoring::kLetter;
  if (name == "loglik") return ChoiceScoring::kLoglik;
  throw Error(str(where, ": unknown scoring '", name, "' (letter, loglik)"));
}

std::string subject_header(ChoiceBenchmark b, const ChoiceSubject& subject) {
  if (b == ChoiceBenchmark::kMmlu) {
    return "The following are multiple choice questions (with answers) about  " + subject.display + ".\n\n";
  }
  return "以下是中国关于" + subject.display + "考试的单项选择题，请选出其中的正确答案。\n\n";
}

std::string format_question(ChoiceBenchmark b, const ChoiceQuestion& q, bool with_answer) {
  static const char* kLetters[] = {"A", "B", "C", "D"};
  std::string out = q.question;
  for (int k = 0; k < 4; ++k) out += std::string("\n") + kLetters[k] + ". " + q.options[k];
  const bool mmlu = b == ChoiceBenchmark::kMmlu;
  out += mmlu ? "\nAnswer:" : "\n答案：";
  if (with_answer) out += std::string(mmlu ? " " : "") + kLetters[q.answer] + "\n\n";
  return out;
}

std::string few_shot_prefix(ChoiceBenchmark b, const ChoiceSubject& subject, int shots) {
  std::string out = subject_header(b, subject);
  const int k = std::min<int>(shots, static_cast<int>(subject.dev.size()));
  for (int i = 0; i < k; ++i) out += format_question(b, subject.dev[i], true);
  return out;
}

std::string build_prompt(ChoiceBenchmark b, const ChoiceSubject& subject, const ChoiceQuestion& q, int shots) {
  return few_shot_prefix(b, subject, shots) + format_question(b, q, false);
}

std::string answer_continuation(ChoiceBenchmark b, const ChoiceQuestion& q, int k, ChoiceScoring scoring) {
  const std::string space = b == ChoiceBenchmark::kMmlu ? " " : "";
  if (scoring == ChoiceScoring::kLetter) return space + std::string(1, static_cast<char>('A' + k));
  return space + q.options[k];
}

}  // namespace fq::pipelines
