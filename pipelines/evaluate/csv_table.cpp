#include "pipelines/evaluate/csv_table.h"

#include "lib/core/error.h"

namespace fq::pipelines {

std::vector<CsvRow> parse_csv(const std::string& text, const std::string& where) {
  std::vector<CsvRow> rows;
  CsvRow row;
  std::string field;
  bool quoted = false;       // inside a quoted field
  bool was_quoted = false;   // the current field started with a quote
  bool row_started = false;  // any character of the row seen
  int64_t line = 1;
  row.line = 1;
  auto end_field = [&] {
    row.fields.push_back(field);
    field.clear();
    was_quoted = false;
  };
  auto end_row = [&] {
    if (row_started) {
      end_field();
      rows.push_back(row);
    }
    row = CsvRow{};
    row.line = line + 1;
    row_started = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    switch (c) {
      case '"':
        FQ_CHECK(field.empty() && !was_quoted, where, " line ", line, ": a quote inside an unquoted field");
        quoted = was_quoted = row_started = true;
        break;
      case ',':
        row_started = true;
        end_field();
        break;
      case '\r':
        break;
      case '\n':
        end_row();
        ++line;
        break;
      default:
        FQ_CHECK(!was_quoted, where, " line ", line, ": characters after a closing quote");
        row_started = true;
        field += c;
    }
  }
  FQ_CHECK(!quoted, where, " line ", row.line, ": a quoted field is never closed");
  end_row();
  return rows;
}

}  // namespace fq::pipelines
