#include "lib/core/log.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <mutex>

#include <nlohmann/json.hpp>

namespace fq::log {
namespace {

struct State {
  std::mutex mutex;
  int rank = 0;
  int world = 1;
  Level level = Level::kInfo;
  std::ofstream sink;
};

State& state() {
  static State s;
  return s;
}

const char* level_name(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

std::string format_number(double v) {
  if (std::isnan(v) || std::isinf(v)) return v != v ? "nan" : (v > 0 ? "inf" : "-inf");
  char buf[32];
  double a = std::fabs(v);
  if (a != 0 && (a < 1e-3 || a >= 1e7)) {
    std::snprintf(buf, sizeof buf, "%.4e", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.6g", v);
  }
  return buf;
}

}  // namespace

Field::Field(std::string_view k, double v) : key(k), text(format_number(v)), quoted(false) {}

void set_rank(int rank, int world_size) {
  std::lock_guard<std::mutex> lock(state().mutex);
  state().rank = rank;
  state().world = world_size;
}
int rank() { return state().rank; }
int world_size() { return state().world; }

void set_level(Level level) { state().level = level; }

void set_json_sink(const std::string& path) {
  std::lock_guard<std::mutex> lock(state().mutex);
  if (state().sink.is_open()) state().sink.close();
  if (!path.empty()) state().sink.open(path, std::ios::app);
}

void emit(Level level, std::string_view stage, std::string_view message, std::initializer_list<Field> fields) {
  State& s = state();
  if (static_cast<int>(level) < static_cast<int>(s.level)) return;
  std::string line;
  {
    char prefix[64];
    int width = s.world > 99 ? 3 : 2;
    std::snprintf(prefix, sizeof prefix, "[r%0*d/%0*d ", width, s.rank, width, s.world);
    line = prefix;
  }
  line.append(stage);
  line += "] ";
  if (level == Level::kWarn) line += "WARNING: ";
  if (level == Level::kError) line += "ERROR: ";
  line.append(message);
  for (const Field& f : fields) {
    line += ' ';
    line += f.key;
    line += '=';
    line += f.text;
  }
  std::lock_guard<std::mutex> lock(s.mutex);
  std::FILE* out = level >= Level::kWarn ? stderr : stdout;
  std::fprintf(out, "%s\n", line.c_str());
  std::fflush(out);
  if (s.sink.is_open()) {
    nlohmann::json j;
    j["time"] = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    j["rank"] = s.rank;
    j["level"] = level_name(level);
    j["stage"] = std::string(stage);
    j["msg"] = std::string(message);
    for (const Field& f : fields) {
      if (f.quoted) {
        j[f.key] = f.text;
      } else if (f.text == "true" || f.text == "false") {
        j[f.key] = f.text == "true";
      } else {
        j[f.key] = std::strtod(f.text.c_str(), nullptr);
      }
    }
    s.sink << j.dump() << '\n';
    s.sink.flush();
  }
}

std::string format_duration(double seconds) {
  char buf[32];
  if (!(seconds >= 0) || std::isinf(seconds)) return "?";
  if (seconds < 60) {
    std::snprintf(buf, sizeof buf, "%.1fs", seconds);
  } else if (seconds < 3600) {
    int s = static_cast<int>(seconds);
    std::snprintf(buf, sizeof buf, "%dm%02ds", s / 60, s % 60);
  } else {
    int m = static_cast<int>(seconds / 60);
    std::snprintf(buf, sizeof buf, "%dh%02dm", m / 60, m % 60);
  }
  return buf;
}

}  // namespace fq::log
