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
  // A UTF-8 byte order mark (files saved by Excel or Notepad) is no part of the first field, as pandas reads it.
  const size_t start = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  for (size_t i = start; i < text.size(); ++i) {
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
        // Only a field's first character opens quotes. Elsewhere a quote is text, as pandas and Python's csv
        // read it: the MMLU release has a question ending `Truth?"` unquoted (college_medicine_val.csv).
        if (field.empty() && !was_quoted) {
          quoted = was_quoted = row_started = true;
        } else {
          field += c;
        }
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
        // Text after a closing quote joins the field (`"ab"c` is abc), as pandas and Python's csv read it.
        row_started = true;
        field += c;
    }
  }
  FQ_CHECK(!quoted, where, " line ", row.line, ": a quoted field is never closed");
  end_row();
  return rows;
}

}  // namespace fq::pipelines
