#include "pipelines/evaluate/choice_benchmark.h"

#include <algorithm>
#include <filesystem>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "pipelines/evaluate/csv_table.h"

namespace fq::pipelines {
namespace {

namespace fs = std::filesystem;

// The questions of one CSV file; `header` skips C-Eval's first row after checking it.
std::vector<ChoiceQuestion> read_questions(const std::string& path, bool header, int64_t limit) {
  const std::vector<CsvRow> rows = parse_csv(read_file(path), path);
  std::vector<ChoiceQuestion> out;
  const size_t first_field = header ? 1 : 0;  // C-Eval's id column
  for (size_t r = header ? 1 : 0; r < rows.size(); ++r) {
    if (limit > 0 && static_cast<int64_t>(out.size()) >= limit) break;
    const CsvRow& row = rows[r];
    FQ_CHECK(row.fields.size() >= first_field + 6, path, " line ", row.line, ": ", row.fields.size(),
             " fields, expected ", first_field + 6, header ? " (id,question,A,B,C,D,answer)" : " (question,A,B,C,D,answer)");
    ChoiceQuestion q;
    q.question = row.fields[first_field];
    for (int k = 0; k < 4; ++k) q.options[k] = row.fields[first_field + 1 + k];
    const std::string& answer = row.fields[first_field + 5];
    FQ_CHECK(answer.size() == 1 && answer[0] >= 'A' && answer[0] <= 'D', path, " line ", row.line, ": answer '",
             answer, "' is not one of A, B, C, D");
    q.answer = answer[0] - 'A';
    out.push_back(std::move(q));
  }
  if (header) {
    FQ_CHECK(!rows.empty() && rows[0].fields.size() >= 7 && rows[0].fields[1] == "question", path,
             " line 1: expected the C-Eval header id,question,A,B,C,D,answer");
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

std::vector<ChoiceSubject> load_choice_subjects(ChoiceBenchmark b, const ChoiceDataOptions& options) {
  const bool header = b == ChoiceBenchmark::kCeval;
  const std::string split = options.split.empty() ? (header ? "val" : "test") : options.split;
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
  if (!options.subjects.empty()) {
    for (const std::string& wanted : options.subjects) {
      FQ_CHECK(std::find(names.begin(), names.end(), wanted) != names.end(), "--subjects: no file '",
               (split_dir / (wanted + suffix)).string(), "'");
    }
    names = options.subjects;
  }
  FQ_CHECK(!names.empty(), choice_benchmark_name(b), " data: no '*", suffix, "' file in '", split_dir.string(), "'");
  std::vector<ChoiceSubject> subjects;
  for (const std::string& name : names) {
    ChoiceSubject s;
    s.name = name;
    describe_subject(b, s);
    s.eval = read_questions((split_dir / (name + suffix)).string(), header, options.limit);
    const fs::path dev = fs::path(options.dir) / "dev" / (name + "_dev.csv");
    if (fs::exists(dev)) s.dev = read_questions(dev.string(), header, 0);
    subjects.push_back(std::move(s));
  }
  return subjects;
}

}  // namespace fq::pipelines
