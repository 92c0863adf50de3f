// CSV as the MMLU and C-Eval releases write it (RFC 4180: comma-separated, fields optionally quoted with
// ", quotes doubled inside, newlines allowed inside quotes; UTF-8 passed through untouched, a leading byte
// order mark dropped). CR before LF ends a row like LF; inside quotes it stays, as pandas and Python's csv keep
// it (some MMLU questions hold CRLF line breaks).
#pragma once

#include <string>
#include <vector>

namespace fq::pipelines {

struct CsvRow {
  int64_t line = 0;  // 1-based line where the row starts (for errors)
  std::vector<std::string> fields;
};

// Rows of `text`; blank lines are skipped. A quote that does not begin a field, and text after a closing
// quote, are kept as text (as pandas, which the original evaluators read with, and Python's csv do). `where`
// names the file in errors (a quote never closed).
std::vector<CsvRow> parse_csv(const std::string& text, const std::string& where);

}  // namespace fq::pipelines
