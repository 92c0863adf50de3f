// Structured logging with a rank prefix.
//
// Terminal lines look like `[r01/04 calibrate] epoch done layer=12 epoch=3 loss=0.031 eta=2m10s`;
// when a JSON sink is set, the same event is appended as one JSON object per line (log.jsonl) so that
// a person or a script can read the run afterwards. Thread-safe.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace fq::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// One key=value pair. Numbers stay numbers in the JSON sink.
struct Field {
  Field(std::string_view k, const char* v) : key(k), text(v), quoted(true) {}
  Field(std::string_view k, std::string_view v) : key(k), text(v), quoted(true) {}
  Field(std::string_view k, const std::string& v) : key(k), text(v), quoted(true) {}
  Field(std::string_view k, bool v) : key(k), text(v ? "true" : "false"), quoted(false) {}
  Field(std::string_view k, int v) : key(k), text(std::to_string(v)), quoted(false) {}
  Field(std::string_view k, long v) : key(k), text(std::to_string(v)), quoted(false) {}
  Field(std::string_view k, long long v) : key(k), text(std::to_string(v)), quoted(false) {}
  Field(std::string_view k, unsigned long v) : key(k), text(std::to_string(v)), quoted(false) {}
  Field(std::string_view k, unsigned long long v) : key(k), text(std::to_string(v)), quoted(false) {}
  Field(std::string_view k, double v);
  std::string key;
  std::string text;
  bool quoted;
};

// Identity of this process in a multi-rank job; rank 0 of 1 by default.
void set_rank(int rank, int world_size);
int rank();
int world_size();

void set_level(Level level);
// Appends JSON lines to `path` from now on (empty path: no sink). Opens in append mode so that a resumed
// run continues the same log.
void set_json_sink(const std::string& path);

void emit(Level level, std::string_view stage, std::string_view message, std::initializer_list<Field> fields = {});

inline void debug(std::string_view stage, std::string_view msg, std::initializer_list<Field> f = {}) {
  emit(Level::kDebug, stage, msg, f);
}
inline void info(std::string_view stage, std::string_view msg, std::initializer_list<Field> f = {}) {
  emit(Level::kInfo, stage, msg, f);
}
inline void warn(std::string_view stage, std::string_view msg, std::initializer_list<Field> f = {}) {
  emit(Level::kWarn, stage, msg, f);
}
inline void error(std::string_view stage, std::string_view msg, std::initializer_list<Field> f = {}) {
  emit(Level::kError, stage, msg, f);
}

// "1h02m", "3m07s", "12.4s": durations for progress lines.
std::string format_duration(double seconds);

}  // namespace fq::log
