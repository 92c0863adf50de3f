#include "tests/support/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fq::test {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& log_path,
                           const std::vector<std::pair<std::string, std::string>>& env)
    : log_path_(log_path), start_(now_seconds()) {
  if (argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");
  // Everything exec needs is built before fork: the child may only make async-signal-safe calls.
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> environment;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    bool overridden = false;
    for (const auto& [name, value] : env) overridden |= entry.compare(0, name.size() + 1, name + "=") == 0;
    if (!overridden) environment.push_back(entry);
  }
  for (const auto& [name, value] : env) environment.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (const std::string& e : environment) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  static const char kExecFailed[] = "ChildProcess: exec failed\n";

  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("ChildProcess: fork failed");
  if (pid_ == 0) {
    ::setpgid(0, 0);
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      ::close(fd);
    }
    ::execvpe(args[0], args.data(), envp.data());
    ssize_t ignored = ::write(STDERR_FILENO, kExecFailed, sizeof kExecFailed - 1);
    (void)ignored;
    ::_exit(127);
  }
  ::setpgid(pid_, pid_);  // also from the parent, so that signal_group works right after the constructor
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !done_) {
    ::kill(-pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

void ChildProcess::reap(int status) {
  done_ = true;
  exit_.seconds = now_seconds() - start_;
  if (WIFEXITED(status)) exit_.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) exit_.signal = WTERMSIG(status);
}

bool ChildProcess::running() {
  if (done_) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) reap(status);
  return !done_;
}

ChildExit ChildProcess::wait(double timeout_seconds) {
  const double deadline = now_seconds() + timeout_seconds;
  while (running()) {
    if (now_seconds() > deadline) {
      ::kill(-pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      reap(status);
      exit_.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return exit_;
}

void ChildProcess::signal(int signal_number) const { ::kill(pid_, signal_number); }

void ChildProcess::signal_group(int signal_number) const { ::kill(-pid_, signal_number); }

std::string ChildProcess::output() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ChildExit run_child(const std::vector<std::string>& argv, const std::string& log_path, double timeout_seconds,
                    const std::vector<std::pair<std::string, std::string>>& env) {
  ChildProcess child(argv, log_path, env);
  return child.wait(timeout_seconds);
}

}  // namespace fq::test
