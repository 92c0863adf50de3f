#include "tests/slurm/single_host_slurm.h"

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>

#include "lib/core/atomic_file.h"

namespace fq::test {
namespace {

constexpr double kClusterStartSeconds = 60;
constexpr int kSkipExitCode = 77;  // single_host_slurm.sh: Slurm cannot run here

}  // namespace

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string file_or_empty(const std::string& path) { return std::filesystem::exists(path) ? read_file(path) : ""; }

SingleHostSlurm::SingleHostSlurm() {
  char tmpl[] = "/tmp/fq-slurm-XXXXXX";  // short: unix socket paths are limited to 108 bytes
  const char* made = ::mkdtemp(tmpl);
  if (made == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = made;
  start_ = run_child({"bash", FQ_SINGLE_HOST_SLURM, "start", dir_}, dir_ + "/start.log", kClusterStartSeconds);
  start_log_ = file_or_empty(dir_ + "/start.log");
}

SingleHostSlurm::~SingleHostSlurm() {
  run_child({"bash", FQ_SINGLE_HOST_SLURM, "stop", dir_}, dir_ + "/stop.log", 60);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

bool SingleHostSlurm::skipped() const { return start_.code == kSkipExitCode; }
bool SingleHostSlurm::up() const { return start_.code == 0 && !start_.timed_out; }

std::string SingleHostSlurm::logs() const {
  return file_or_empty(dir_ + "/log/slurmctld.log").substr(0, 4000) + file_or_empty(dir_ + "/log/slurmd.log");
}

}  // namespace fq::test
