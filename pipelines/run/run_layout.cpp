#include "pipelines/run/run_layout.h"

#include <cstdio>
#include <filesystem>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"

namespace fq::pipelines {
namespace {

std::string numbered(const std::string& dir, const char* stem, int64_t layer, const char* ext) {
  char name[64];
  std::snprintf(name, sizeof name, "%s_%03lld%s", stem, static_cast<long long>(layer), ext);
  return dir + "/" + name;
}

}  // namespace

RunLayout::RunLayout(std::string dir) : dir_(std::filesystem::absolute(dir).lexically_normal().string()) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
}

std::string RunLayout::activations_path(int64_t layer) const {
  return numbered(activations_dir(), "layer", layer, ".h5");
}
std::string RunLayout::layer_params_path(int64_t layer) const { return numbered(layers_dir(), "layer", layer, ".h5"); }
std::string RunLayout::layer_state_path(int64_t layer) const {
  return numbered(layers_dir(), "layer", layer, ".state.h5");
}

void RunLayout::prepare() const {
  std::error_code ec;
  for (const std::string& d : {dir_, activations_dir(), layers_dir()}) {
    std::filesystem::create_directories(d, ec);
    FQ_CHECK(!ec, "cannot create run directory '", d, "': ", ec.message());
  }
  for (const std::string& d : {dir_, activations_dir(), layers_dir()}) remove_stale_temp_files(d);
}

}  // namespace fq::pipelines
