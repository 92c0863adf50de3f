#include "cluster/run_lock.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/json.h"
#include "tests/support/shared_dir.h"

namespace fq::cluster {
namespace {

// A pid that is certainly not running: a child that has exited and been reaped.
long dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

void write_lock(const std::string& dir, const std::string& host, long pid, const std::string& job) {
  write_file_atomic(dir + "/" + RunLock::kFileName,
                    Json{{"host", host}, {"pid", pid}, {"slurm_job_id", job}, {"started", "2025-01-02T03:04:05Z"}}.dump());
}

// Runs the test body with SLURM_JOB_ID set to `job` (or unset), restoring the environment afterwards.
class ScopedJobId {
 public:
  explicit ScopedJobId(const char* job) {
    if (const char* old = std::getenv("SLURM_JOB_ID")) saved_ = old;
    job ? ::setenv("SLURM_JOB_ID", job, 1) : ::unsetenv("SLURM_JOB_ID");
  }
  ~ScopedJobId() { saved_.empty() ? ::unsetenv("SLURM_JOB_ID") : ::setenv("SLURM_JOB_ID", saved_.c_str(), 1); }

 private:
  std::string saved_;
};

TEST(RunLock, CreatesNamesAndReleasesTheLock) {
  ScopedJobId job("4242");
  const std::string dir = test::scratch_dir("run_lock_basic");
  const std::string path = dir + "/.flatquant.lock";
  {
    RunLock lock = RunLock::acquire(dir);
    EXPECT_EQ(lock.path(), path);
    const Json j = read_json_file(path);
    EXPECT_EQ(j["pid"].get<long>(), static_cast<long>(::getpid()));
    EXPECT_EQ(j["slurm_job_id"].get<std::string>(), "4242");
    EXPECT_EQ(j["host"].get<std::string>(), LockHolder::current().host);
    EXPECT_FALSE(lock.replaced().has_value());
    RunLock moved = std::move(lock);  // ownership moves; the file stays until `moved` ends
    EXPECT_TRUE(std::filesystem::exists(path));
  }
  EXPECT_FALSE(std::filesystem::exists(path)) << "the lock must be released when it goes out of scope";
}

TEST(RunLock, RefusesALiveHolderAndNamesIt) {
  ScopedJobId job(nullptr);
  const std::string dir = test::scratch_dir("run_lock_refuse");
  write_lock(dir, "node-17.cluster", 31337, "98765");
  try {
    RunLock::acquire(dir);
    FAIL() << "a lock held by another host must be refused";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const char* part : {"node-17.cluster", "31337", "98765", ".flatquant.lock", "in use"}) {
      EXPECT_NE(msg.find(part), std::string::npos) << "missing '" << part << "' in: " << msg;
    }
  }
  // Same host, live process (this test itself): refused too.
  write_lock(dir, LockHolder::current().host, static_cast<long>(::getpid()), "");
  EXPECT_THROW(RunLock::acquire(dir), Error);
}

TEST(RunLock, TakesOverFromADeadProcessOnThisHost) {
  ScopedJobId job(nullptr);
  const std::string dir = test::scratch_dir("run_lock_stale");
  const long gone = dead_pid();
  write_lock(dir, LockHolder::current().host, gone, "");
  RunLock lock = RunLock::acquire(dir);
  ASSERT_TRUE(lock.replaced().has_value());
  EXPECT_EQ(lock.replaced()->pid, gone);
  EXPECT_EQ(read_json_file(lock.path())["pid"].get<long>(), static_cast<long>(::getpid()));
}

TEST(RunLock, TakesOverFromTheSameSlurmJobOnAnyHost) {
  ScopedJobId job("555");
  const std::string dir = test::scratch_dir("run_lock_requeue");
  write_lock(dir, "another-node", 1, "555");  // pid 1 is alive, but the job id says it is our earlier run
  RunLock lock = RunLock::acquire(dir);
  ASSERT_TRUE(lock.replaced().has_value());
  EXPECT_EQ(lock.replaced()->host, "another-node");
}

TEST(RunLock, LeavesALockThatWasTakenOver) {
  ScopedJobId job(nullptr);
  const std::string dir = test::scratch_dir("run_lock_taken");
  const std::string path = dir + "/.flatquant.lock";
  {
    RunLock lock = RunLock::acquire(dir);
    write_lock(dir, "new-owner", 77, "1");
  }
  ASSERT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(read_json_file(path)["host"].get<std::string>(), "new-owner");
}

TEST(RunLock, CorruptLockFileIsRefusedWithAHint) {
  ScopedJobId job(nullptr);
  const std::string dir = test::scratch_dir("run_lock_corrupt");
  write_file_atomic(dir + "/.flatquant.lock", "{not json");
  try {
    RunLock::acquire(dir);
    FAIL() << "a corrupt lock must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("delete the lock file"), std::string::npos) << e.what();
  }
}

TEST(RunLock, MissingDirectoryIsAnError) {
  EXPECT_THROW(RunLock::acquire("/nonexistent/flatquant/run"), Error);
}

}  // namespace
}  // namespace fq::cluster
