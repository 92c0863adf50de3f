#include "tests/support/shared_dir.h"

#include <cstdlib>
#include <filesystem>

#include "flatquant_build_info.h"

namespace fq::test {

std::string shared_dir() {
  const char* env = std::getenv("FLATQUANT_SHARED_DIR");
  return env && *env ? env : FLATQUANT_SHARED_DIR;
}

bool shared_available() { return std::filesystem::is_directory(shared_dir() + "/models"); }

std::string shared_path(const std::string& relative) { return shared_dir() + "/" + relative; }

std::string scratch_dir(const std::string& name) {
  std::filesystem::path dir = std::filesystem::path(FLATQUANT_BINARY_DIR) / "test-scratch" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::string flatquant_binary() { return std::string(FLATQUANT_BINARY_DIR) + "/flatquant"; }

}  // namespace fq::test
