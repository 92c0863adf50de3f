// CSV as the MMLU and C-Eval releases write it (RFC 4180: comma-separated, fields optionally quoted with
// ", quotes doubled inside, newlines allowed inside quotes; UTF-8 passed through untouched).
#pragma once

#include <string>
#include <vector>

namespace fq::pipelines {

struct CsvRow {
  int64_t line = 0;  // 1-based line where the row starts (for errors)
  std::vector<std::string> fields;
};

// Rows of `text`; blank lines are skipped. `where` names the file in errors (an unterminated quote, a
// quote in the middle of an unquoted field).
std::vector<CsvRow> parse_csv(const std::string& text, const std::string& where);

}  // namespace fq::pipelines
