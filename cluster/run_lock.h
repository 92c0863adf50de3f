// One job per output directory: `<dir>/.flatquant.lock` names its holder, so that a second job started on
// the same directory refuses instead of interleaving writes with the first.
//
// The lock is a file created with O_CREAT|O_EXCL (atomic on local filesystems, NFSv3+ and Lustre, where
// flock() is unreliable) holding JSON {host, pid, slurm_job_id, started}. A lock left behind is taken over
// when its holder is provably gone: same host and the pid is not alive, or the same SLURM_JOB_ID (a
// requeued job runs again under its old id, on any node). Anything else is refused with an fq::Error
// naming the holder and the lock file.
#pragma once

#include <optional>
#include <string>

namespace fq::cluster {

class MpiWorld;

struct LockHolder {
  std::string host;
  long pid = 0;
  std::string slurm_job_id;  // empty outside Slurm
  std::string started;       // UTC, ISO 8601
  // This process: host name, pid, $SLURM_JOB_ID, now.
  static LockHolder current();
  std::string describe() const;  // "pid 123 on host a (Slurm job 45), started 2025-01-01T00:00:00Z"
};

class RunLock {
 public:
  static constexpr const char* kFileName = ".flatquant.lock";

  // Takes the lock of `dir` (which must exist) for this process, or throws fq::Error naming the holder.
  static RunLock acquire(const std::string& dir);
  // Removes the lock file if it still names this holder (a lock taken over by a later job is left alone).
  ~RunLock();
  RunLock(RunLock&& other) noexcept;
  RunLock& operator=(RunLock&& other) noexcept;
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  const std::string& path() const { return path_; }
  const LockHolder& holder() const { return holder_; }
  // The stale holder this lock replaced, if any.
  const std::optional<LockHolder>& replaced() const { return replaced_; }

 private:
  RunLock(std::string path, LockHolder holder, std::optional<LockHolder> replaced);
  void release() noexcept;

  std::string path_;
  LockHolder holder_;
  std::optional<LockHolder> replaced_;
};

// Collective: rank 0 takes the lock of `dir` and tells every rank the outcome. Returns the lock on rank 0
// and nothing elsewhere; when the directory is taken, every rank throws the same fq::Error (so the job
// ends cleanly instead of rank 0 alone).
std::optional<RunLock> lock_run_directory(const MpiWorld& world, const std::string& dir);

}  // namespace fq::cluster
