#include "pipelines/evaluate/choice_prompt.h"

#include <algorithm>

#include "lib/core/error.h"
#include "lib/io/tokenizer.h"

namespace fq::pipelines {
namespace {

// What the prompt ends with, where the answer follows.
std::string answer_cue(ChoiceBenchmark b) { return b == ChoiceBenchmark::kMmlu ? "Answer:" : "答案："; }

}  // namespace

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
  out += "\n" + answer_cue(b);
  if (with_answer) out += std::string(b == ChoiceBenchmark::kMmlu ? " " : "") + kLetters[q.answer] + "\n\n";
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

std::vector<int64_t> fitted_prompt(const io::Tokenizer& tok, ChoiceBenchmark b, const ChoiceSubject& s,
                                   const ChoiceQuestion& q, int shots, int64_t max_tokens,
                                   const std::vector<std::vector<int64_t>>& continuations, int* shots_used,
                                   int64_t* dropped_tokens) {
  int64_t reserve = 0;
  for (const auto& c : continuations) reserve = std::max(reserve, static_cast<int64_t>(c.size()));
  // At least the prompt's last token must stay: its output predicts the answer.
  FQ_CHECK(reserve < max_tokens, s.name, ": an answer of ", reserve, " tokens leaves no room for its question in the ",
           "context of ", max_tokens, " tokens (--seqlen)");
  for (int k = std::min<int>(shots, static_cast<int>(s.dev.size()));; --k) {
    std::vector<int64_t> ids = tok.encode(build_prompt(b, s, q, k), true);
    const int64_t excess = static_cast<int64_t>(ids.size()) + reserve - max_tokens;
    if (excess <= 0 || k == 0) {
      *shots_used = k;
      *dropped_tokens = std::max<int64_t>(0, excess);
      ids.erase(ids.begin(), ids.begin() + *dropped_tokens);
      return ids;
    }
  }
}

std::string answer_continuation(ChoiceBenchmark b, const ChoiceQuestion& q, int k, ChoiceScoring scoring) {
  const std::string space = b == ChoiceBenchmark::kMmlu ? " " : "";
  if (scoring == ChoiceScoring::kLetter) return space + std::string(1, static_cast<char>('A' + k));
  return space + q.options[k];
}

std::vector<int64_t> encode_continuation(const io::Tokenizer& tok, ChoiceBenchmark b, const std::string& continuation) {
  const std::string cue = answer_cue(b);
  const size_t context = tok.encode(cue, false).size();
  std::vector<int64_t> whole = tok.encode(cue + continuation, false);
  whole.erase(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(std::min(context, whole.size())));
  return whole;
}

std::array<int64_t, 4> letter_token_ids(const io::Tokenizer& tok, ChoiceBenchmark b) {
  std::array<int64_t, 4> ids{};
  for (int k = 0; k < 4; ++k) {
    const std::string letter = answer_continuation(b, ChoiceQuestion{}, k, ChoiceScoring::kLetter);
    const std::vector<int64_t> tokens =
        b == ChoiceBenchmark::kMmlu ? encode_continuation(tok, b, letter) : tok.encode(letter, false);
    FQ_CHECK(!tokens.empty(), tok.path(), ": the answer letter '", letter, "' encodes to no token");
    ids[k] = tokens[0];
    for (int j = 0; j < k; ++j) {
      FQ_CHECK(ids[j] != ids[k], tok.path(), ": answer letters ", char('A' + j), " and ", char('A' + k),
               " begin with the same token ", ids[k],
               ", so letter scoring cannot tell them apart (--scoring loglik can)");
    }
  }
  return ids;
}

}  // namespace fq::pipelines
