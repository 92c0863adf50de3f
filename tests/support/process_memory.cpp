#include "tests/support/process_memory.h"

#include <fstream>
#include <string>

#include "lib/core/error.h"

namespace fq::test {
namespace {

std::int64_t status_kib(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size() + 1, key + ":") == 0) return std::stoll(line.substr(key.size() + 1));
  }
  throw Error(str("/proc/self/status has no '", key, "' line"));
}

}  // namespace

std::int64_t rss_bytes() { return status_kib("VmRSS") * 1024; }
std::int64_t peak_rss_bytes() { return status_kib("VmHWM") * 1024; }

void reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  FQ_CHECK(out.good(), "cannot reset the peak RSS through /proc/self/clear_refs");
}

}  // namespace fq::test
