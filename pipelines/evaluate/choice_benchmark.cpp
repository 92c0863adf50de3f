#include "pipelines/evaluate/choice_benchmark.h"

#include <algorithm>
#include <filesystem>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "pipelines/evaluate/csv_table.h"

namespace fq::pipelines {
namespace {

namespace fs = std::filesystem;

// The questions of one CSV file. MMLU rows are exactly `question,A,B,C,D,answer`; C-Eval's first row is its
// header, `id,question,A,B,C,D,answer` and possibly more columns (dev: explanation), and every row has as many
// fields as the header (a row with more or fewer was cut or joined wrongly: its fields cannot be trusted).
std::vector<ChoiceQuestion> read_questions(const std::string& path, bool header, int64_t limit) {
  const std::vector<CsvRow> rows = parse_csv(read_file(path), path);
  size_t fields = 6;
  size_t first_field = 0;
  if (header) {
    static const std::vector<std::string> kColumns = {"id", "question", "A", "B", "C", "D", "answer"};
    const std::string expected = "expected the C-Eval header id,question,A,B,C,D,answer[,explanation]";
    FQ_CHECK(!rows.empty(), path, ": empty file, ", expected);
    const std::vector<std::string>& names = rows[0].fields;
    const bool ids_to_d = names.size() >= 6 && std::equal(kColumns.begin(), kColumns.begin() + 6, names.begin());
    // C-Eval's test split withholds its labels: the answer column is missing (or empty, below).
    FQ_CHECK(!ids_to_d || names.size() > 6, path, " line 1: no answer column (C-Eval withholds the test labels: "
             "evaluate --split val)");
    FQ_CHECK(ids_to_d && names[6] == "answer", path, " line 1: ", expected);
    fields = names.size();
    first_field = 1;  // the id column
  }
  std::vector<ChoiceQuestion> out;
  for (size_t r = header ? 1 : 0; r < rows.size(); ++r) {
    if (limit > 0 && static_cast<int64_t>(out.size()) >= limit) break;
    const CsvRow& row = rows[r];
    FQ_CHECK(row.fields.size() == fields, path, " line ", row.line, ": ", row.fields.size(), " fields, expected ",
             fields, header ? " (as many as the header)" : " (question,A,B,C,D,answer)");
    ChoiceQuestion q;
    q.question = row.fields[first_field];
    for (int k = 0; k < 4; ++k) q.options[k] = row.fields[first_field + 1 + k];
    const std::string& answer = row.fields[first_field + 5];
    FQ_CHECK(!answer.empty(), path, " line ", row.line, ": no answer",
             header ? " (C-Eval withholds the test labels: evaluate --split val)" : "");
    FQ_CHECK(answer.size() == 1 && answer[0] >= 'A' && answer[0] <= 'D', path, " line ", row.line, ": answer '",
             answer, "' is not one of A, B, C, D");
    q.answer = answer[0] - 'A';
    out.push_back(std::move(q));
  }
  return out;
}

}  // namespace

ChoiceBenchmark parse_choice_benchmark(const std::string& name, const std::string& where) {
  if (name == "mmlu") return ChoiceBenchmark::kMmlu;
  if (name == "ceval") return ChoiceBenchmark::kCeval;
  throw Error(str(where, ": unknown benchmark '", name, "' (mmlu, ceval)"));
}

std::string choice_benchmark_name(ChoiceBenchmark b) { return b == ChoiceBenchmark::kMmlu ? "mmlu" : "ceval"; }

std::string evaluated_split(ChoiceBenchmark b, const std::string& split) {
  if (!split.empty()) return split;
  return b == ChoiceBenchmark::kCeval ? "val" : "test";
}

std::vector<ChoiceSubject> load_choice_subjects(ChoiceBenchmark b, const ChoiceDataOptions& options, int shots) {
  const bool header = b == ChoiceBenchmark::kCeval;
  const std::string split = evaluated_split(b, options.split);
  const fs::path split_dir = fs::path(options.dir) / split;
  FQ_CHECK(fs::is_directory(split_dir), choice_benchmark_name(b), " data: no directory '", split_dir.string(),
           "' (expected DIR/{dev,val,test}/<subject>_<split>.csv)");
  const std::string suffix = "_" + split + ".csv";
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(split_dir)) {
    const std::string file = entry.path().filename().string();
    if (file.size() > suffix.size() && file.compare(file.size() - suffix.size(), suffix.size(), suffix) == 0) {
      names.push_back(file.substr(0, file.size() - suffix.size()));
    }
  }
  std::sort(names.begin(), names.end());
  FQ_CHECK(!names.empty(), choice_benchmark_name(b), " data: no '*", suffix, "' file in '", split_dir.string(), "'");
  if (!options.subjects.empty()) {
    std::string available;
    for (const std::string& name : names) available += (available.empty() ? "" : ", ") + name;
    for (size_t i = 0; i < options.subjects.size(); ++i) {
      const std::string& wanted = options.subjects[i];
      FQ_CHECK(std::find(names.begin(), names.end(), wanted) != names.end(), "--subjects: no file '",
               (split_dir / (wanted + suffix)).string(), "'; the subjects of split ", split, ": ", available);
      const auto earlier = options.subjects.begin() + static_cast<std::ptrdiff_t>(i);
      FQ_CHECK(std::find(options.subjects.begin(), earlier, wanted) == earlier, "--subjects: '", wanted,
               "' is listed twice");
    }
    names = options.subjects;
  }
  std::vector<ChoiceSubject> subjects;
  for (const std::string& name : names) {
    ChoiceSubject s;
    s.name = name;
    describe_subject(b, s);
    const fs::path eval = split_dir / (name + suffix);
    s.eval = read_questions(eval.string(), header, options.limit);
    FQ_CHECK(!s.eval.empty(), eval.string(), ": no questions");
    // The released layouts have a dev file beside every subject; a k-shot evaluation without one would quietly
    // be 0-shot for that subject.
    const fs::path dev = fs::path(options.dir) / "dev" / (name + "_dev.csv");
    if (shots > 0) {
      FQ_CHECK(fs::exists(dev), "no file '", dev.string(), "' for the ", shots, " shots of subject ", name,
               " (--shots 0 evaluates without)");
      s.dev = read_questions(dev.string(), header, 0);
    }
    subjects.push_back(std::move(s));
  }
  return subjects;
}

}  // namespace fq::pipelines
