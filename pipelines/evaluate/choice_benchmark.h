// MMLU and C-Eval in their released layouts: `DIR/{dev,val,test}/<subject>_<split>.csv`, one file per
// subject and split — MMLU without a header (`question,A,B,C,D,answer`), C-Eval with the header
// `id,question,A,B,C,D,answer[,explanation]` (REFERENCE-EVAL-CLUSTER.md sections 1-2).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace fq::pipelines {

enum class ChoiceBenchmark { kMmlu, kCeval };
ChoiceBenchmark parse_choice_benchmark(const std::string& name, const std::string& where);  // "mmlu" | "ceval"
std::string choice_benchmark_name(ChoiceBenchmark b);

struct ChoiceQuestion {
  std::string question;
  std::array<std::string, 4> options;  // A..D
  int answer = 0;                      // 0..3
};

struct ChoiceSubject {
  std::string name;      // file handle, e.g. high_school_physics
  std::string display;   // MMLU: the handle's words; C-Eval: the Chinese name the prompt uses
  std::string category;  // STEM, humanities, social sciences, other (C-Eval: STEM, Social Science, ...)
  std::vector<ChoiceQuestion> dev;   // the few-shot pool, in file order
  std::vector<ChoiceQuestion> eval;  // the split evaluated
};

struct ChoiceDataOptions {
  std::string dir;
  std::string split;                  // "" = the benchmark's default: MMLU test, C-Eval val
  std::vector<std::string> subjects;  // empty: every subject with a file in the split
  int64_t limit = 0;                  // questions per subject (0: all)
};

// The split evaluated: `split`, or the benchmark's default where it is empty (MMLU test; C-Eval val, since
// C-Eval withholds its test labels).
std::string evaluated_split(ChoiceBenchmark b, const std::string& split);

// Subjects in name order (or the order of `options.subjects`). Errors name the file and line (missing
// directory, wrong field count, an answer that is not A-D, a C-Eval split without labels, a file without
// questions), or list the split's subjects (an unknown name in `options.subjects`). With `shots` > 0 every
// subject needs its dev file (its first `shots` rows are used; fewer rows give fewer shots); with 0 dev is not read.
std::vector<ChoiceSubject> load_choice_subjects(ChoiceBenchmark b, const ChoiceDataOptions& options, int shots);

// The benchmark's subject table: display name and category; unknown handles get their own words and
// the category "other".
void describe_subject(ChoiceBenchmark b, ChoiceSubject& subject);

}  // namespace fq::pipelines
