// A child process for tests that launch programs (mpirun, job scripts, Slurm tools): started in its own
// process group with stdout and stderr going to a log file, waited for with a timeout, and killed with
// its whole group when the test ends early, so that a failing test never leaves processes behind.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace fq::test {

struct ChildExit {
  int code = -1;           // exit status, -1 when killed by a signal or timed out
  int signal = 0;          // the signal that killed it, 0 if it exited
  bool timed_out = false;  // the wait gave up and killed the group
  double seconds = 0;      // from start to exit
};

class ChildProcess {
 public:
  // Runs argv[0] (looked up in PATH) with `env` added to this process's environment.
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path,
               const std::vector<std::pair<std::string, std::string>>& env = {});
  // Kills the process group with SIGKILL and reaps the child if it is still running.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // Waits up to `timeout_seconds`; then kills the group with SIGKILL and reports timed_out.
  ChildExit wait(double timeout_seconds);
  void signal(int signal_number) const;        // the child only
  void signal_group(int signal_number) const;  // the child and everything it started
  std::string output() const;                  // the log file so far

 private:
  void reap(int status);

  pid_t pid_ = -1;
  bool done_ = false;
  ChildExit exit_;
  std::string log_path_;
  double start_ = 0;
};

// Starts `argv`, waits up to `timeout_seconds`, returns how it ended; the output goes to `log_path`.
ChildExit run_child(const std::vector<std::string>& argv, const std::string& log_path, double timeout_seconds,
                    const std::vector<std::pair<std::string, std::string>>& env = {});

}  // namespace fq::test
