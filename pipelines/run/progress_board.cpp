#include "pipelines/run/progress_board.h"

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "lib/core/log.h"

namespace fq::pipelines {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

constexpr const char* kCounters[] = {"layers_done", "layers", "cost_done", "cost_total", "calibrate_started"};

}  // namespace

ProgressBoard::ProgressBoard(const RunLayout& layout, int rank, int world_size, int64_t num_layers)
    : dir_(layout.dir() + "/progress"), rank_(rank), world_size_(world_size), num_layers_(num_layers) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
}

std::string ProgressBoard::path_of(int rank) const {
  char name[32];
  std::snprintf(name, sizeof name, "/rank_%03d.json", rank);
  return dir_ + name;
}

void ProgressBoard::publish(const Json& state) {
  Json s = state;
  for (const char* key : kCounters) {
    if (!s.contains(key) && last_.contains(key)) s[key] = last_[key];
  }
  const double now = now_seconds();
  // The speed of a rank is its calibration work over the time since its calibration began (not counting
  // the capture before it).
  if (!s.contains("calibrate_started") && s.value("stage", std::string()) == "calibrate") s["calibrate_started"] = now;
  s["rank"] = rank_;
  s["updated"] = now;
  write_json_file_atomic(path_of(rank_), s);
  last_ = s;
}

std::string ProgressBoard::summary() const {
  double cost_done = 0, cost_total = 0, eta = 0;
  bool eta_known = true;
  int64_t layers_done = 0;
  std::string ranks;
  const double now = now_seconds();
  for (int r = 0; r < world_size_; ++r) {
    Json s;
    try {
      s = read_json_file(path_of(r));
    } catch (const std::exception&) {
      ranks += " r" + std::to_string(r) + ":starting";
      continue;
    }
    const double done = s.value("cost_done", 0.0), total = s.value("cost_total", 0.0);
    cost_done += done;
    cost_total += total;
    layers_done += s.value("layers_done", int64_t{0});
    if (total > done) {
      const double elapsed = s.value("updated", 0.0) - s.value("calibrate_started", 0.0);
      if (done > 0 && s.contains("calibrate_started")) {
        eta = std::max(eta, elapsed * (total - done) / done - (now - s.value("updated", now)));
      } else {
        eta_known = false;
      }
    }
    ranks += " r" + std::to_string(r) + ":" + s.value("stage", std::string("?"));
    if (s.contains("layer")) ranks += "@L" + std::to_string(s["layer"].get<int64_t>());
    if (s.contains("epoch")) ranks += "e" + std::to_string(s["epoch"].get<int64_t>()) + "/" +
                                      std::to_string(s.value("epochs", int64_t{0}));
  }
  char head[160];
  std::snprintf(head, sizeof head, "layers %lld/%lld done, work %.0f%%, eta %s |", static_cast<long long>(layers_done),
                static_cast<long long>(num_layers_), cost_total > 0 ? 100.0 * cost_done / cost_total : 0.0,
                eta_known ? log::format_duration(std::max(0.0, eta)).c_str() : "?");
  return head + ranks;
}

}  // namespace fq::pipelines
