#pragma once
// ChildProcess: a real binary (jobqueue-worker, jobqueue-reaper, ...) started
// by a test, with extra environment, its stdout and stderr in a log file the
// test can read. The destructor SIGKILLs and reaps it if it still runs, so a
// failing test leaves no process behind.
#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace jobqueue::testing {

class ChildProcess {
 public:
  // `env` entries override (or add to) the test's own environment.
  ChildProcess(const std::string& path, const std::map<std::string, std::string>& env,
               const std::vector<std::string>& args = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Exit status once it ended: the exit code, or 128 + signal number.
  // nullopt when still running after `timeout`.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  bool Running();
  // Everything it wrote so far.
  std::string Log() const;
  const std::string& log_path() const { return log_path_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string log_path_;
};

// Waits up to `timeout` for the process to exit with code 0. Otherwise prints
// its exit status (or "still running") and the end of its log to stderr, so a
// failed drain can be read off the test output, and returns false.
bool ExitedCleanly(ChildProcess& process, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// GET http://127.0.0.1:port/path with a short timeout. Returns the status
// code and fills *body; -1 when nothing answered.
int HttpGet(int port, const std::string& path, std::string* body = nullptr);

}  // namespace jobqueue::testing
