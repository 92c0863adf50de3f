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
}  // namespace

ProgressBoard::ProgressBoard(const RunLayout& layout, int rank, int world_size)
    : dir_(layout.dir() + "/progress"), rank_(rank), world_size_(world_size), started_(now_seconds()) {
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
  s["rank"] = rank_;
  s["updated"] = now_seconds();
  s["started"] = started_;
  write_json_file_atomic(path_of(rank_), s);
}

std::string ProgressBoard::summary() const {
  double cost_done = 0, cost_total = 0, eta = 0;
  int64_t layers_done = 0, layers = 0;
  std::string ranks;
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
    layers += s.value("layers", int64_t{0});
    const double elapsed = s.value("updated", 0.0) - s.value("started", 0.0);
    if (done > 0 && total > done) eta = std::max(eta, elapsed * (total - done) / done);
    ranks += " r" + std::to_string(r) + ":" + s.value("stage", std::string("?"));
    if (s.contains("layer")) ranks += "@L" + std::to_string(s["layer"].get<int64_t>());
    if (s.contains("epoch")) ranks += "e" + std::to_string(s["epoch"].get<int64_t>()) + "/" +
                                      std::to_string(s.value("epochs", int64_t{0}));
  }
  char head[160];
  std::snprintf(head, sizeof head, "layers %lld/%lld, work %.0f%%, eta %s |", static_cast<long long>(layers_done),
                static_cast<long long>(layers), cost_total > 0 ? 100.0 * cost_done / cost_total : 0.0,
                log::format_duration(eta).c_str());
  return head + ranks;
}

}  // namespace fq::pipelines
