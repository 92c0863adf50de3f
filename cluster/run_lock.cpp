#include "cluster/run_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <utility>

#include "cluster/collectives.h"
#include "cluster/host_name.h"
#include "cluster/mpi_world.h"
#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/core/log.h"

namespace fq::cluster {
namespace {

constexpr int kAcquireAttempts = 5;
// A holder creates the file and writes it right away; a reader that finds it empty or half written
// retries this long before calling it corrupt.
constexpr auto kUnreadableGrace = std::chrono::seconds(2);

std::string utc_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Json holder_json(const LockHolder& h) {
  return Json{{"host", h.host}, {"pid", h.pid}, {"slurm_job_id", h.slurm_job_id}, {"started", h.started}};
}

LockHolder parse_holder(const std::string& text, const std::string& path) {
  const Json j = Json::parse(text);  // nlohmann::json::parse_error on torn content
  LockHolder h;
  h.host = json_get<std::string>(j, "host", path);
  h.pid = json_get<long>(j, "pid", path);
  h.slurm_job_id = json_get_or<std::string>(j, "slurm_job_id", "", path);
  h.started = json_get_or<std::string>(j, "started", "", path);
  return h;
}

bool same_holder(const LockHolder& a, const LockHolder& b) {
  return a.host == b.host && a.pid == b.pid && a.started == b.started && a.slurm_job_id == b.slurm_job_id;
}

// A zombie (exited, not yet reaped: common in containers whose init does not reap) holds nothing.
bool pid_alive(long pid) {
  if (pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM)) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() || text[close + 2] != 'Z';
}

// O_CREAT|O_EXCL: exactly one process creates the file. Returns false when it already exists.
bool try_create(const std::string& path, const std::string& content) {
  const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) {
    FQ_CHECK(errno == EEXIST, "cannot create the lock file '", path, "': ", std::strerror(errno));
    return false;
  }
  const ssize_t written = ::write(fd, content.data(), content.size());
  const int write_errno = errno;
  ::fsync(fd);
  ::close(fd);
  if (written != static_cast<ssize_t>(content.size())) {
    ::unlink(path.c_str());
    throw Error(str("cannot write the lock file '", path, "': ", std::strerror(write_errno)));
  }
  return true;
}

// The current holder, or nothing when the file vanished meanwhile (its holder released it).
std::optional<LockHolder> read_holder(const std::string& path, const std::string& dir) {
  const auto deadline = std::chrono::steady_clock::now() + kUnreadableGrace;
  std::string problem;
  while (true) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return std::nullopt;
    try {
      return parse_holder(read_file(path), path);
    } catch (const std::exception& e) {
      problem = e.what();
    }
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw Error(str("the lock file '", path, "' exists but does not name its holder (", problem, "); if no job uses '",
                  dir, "', delete the lock file"));
}

}  // namespace

LockHolder LockHolder::current() {
  LockHolder h;
  h.host = host_name();
  h.pid = static_cast<long>(::getpid());
  const char* job = std::getenv("SLURM_JOB_ID");
  h.slurm_job_id = job ? job : "";
  h.started = utc_now();
  return h;
}

std::string LockHolder::describe() const {
  return str("pid ", pid, " on host ", host, slurm_job_id.empty() ? "" : str(" (Slurm job ", slurm_job_id, ")"),
             started.empty() ? "" : str(", started ", started));
}

RunLock::RunLock(std::string path, LockHolder holder, std::optional<LockHolder> replaced)
    : path_(std::move(path)), holder_(std::move(holder)), replaced_(std::move(replaced)) {}

RunLock RunLock::acquire(const std::string& dir) {
  std::error_code ec;
  FQ_CHECK(std::filesystem::is_directory(dir, ec), "cannot lock output directory '", dir, "': not a directory");
  const std::string path = (std::filesystem::path(dir) / kFileName).string();
  const LockHolder me = LockHolder::current();
  const std::string content = holder_json(me).dump(2) + "\n";
  std::optional<LockHolder> replaced;
  for (int attempt = 0; attempt < kAcquireAttempts; ++attempt) {
    if (try_create(path, content)) return RunLock(path, me, replaced);
    const std::optional<LockHolder> holder = read_holder(path, dir);
    if (!holder) continue;  // released between our create and read: try again
    std::string reason;
    if (!holder->slurm_job_id.empty() && holder->slurm_job_id == me.slurm_job_id) {
      reason = "same Slurm job (requeued)";
    } else if (holder->host == me.host && !pid_alive(holder->pid)) {
      reason = "its process is gone";
    } else {
      throw Error(str("output directory '", dir, "' is in use by ", holder->describe(), " (lock file '", path,
                      "'); wait for that job to end or use another directory, and delete the lock file only if "
                      "that job is gone"));
    }
    log::warn("cluster", "taking over a stale lock", {{"lock", path}, {"holder", holder->describe()}, {"reason", reason}});
    replaced = holder;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      throw Error(str("cannot remove the stale lock file '", path, "': ", std::strerror(errno)));
    }
  }
  throw Error(str("could not take the lock '", path, "' in ", kAcquireAttempts,
                  " attempts: other processes keep taking it"));
}

RunLock::~RunLock() { release(); }

RunLock::RunLock(RunLock&& other) noexcept { *this = std::move(other); }

RunLock& RunLock::operator=(RunLock&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::exchange(other.path_, std::string());
    holder_ = std::move(other.holder_);
    replaced_ = std::move(other.replaced_);
  }
  return *this;
}

void RunLock::release() noexcept {
  if (path_.empty()) return;
  try {
    const LockHolder now = parse_holder(read_file(path_), path_);
    if (same_holder(now, holder_)) {
      ::unlink(path_.c_str());
    } else {
      log::warn("cluster", "the run lock was taken over; leaving it", {{"lock", path_}, {"holder", now.describe()}});
    }
  } catch (const std::exception& e) {
    log::warn("cluster", "cannot release the run lock", {{"lock", path_}, {"error", std::string(e.what())}});
  }
  path_.clear();
}

std::optional<RunLock> lock_run_directory(const MpiWorld& world, const std::string& dir) {
  std::optional<RunLock> lock;
  std::string error;
  if (world.is_root()) {
    try {
      lock = RunLock::acquire(dir);
    } catch (const Error& e) {
      error = e.what();
    }
  }
  error = broadcast_bytes(world, error);
  FQ_CHECK(error.empty(), error);
  return lock;
}

}  // namespace fq::cluster
