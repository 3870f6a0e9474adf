#pragma once
// Supervisor: the child processes of `jobqueue dev` (workers, reaper, later
// the API). Each child runs in its own process group, so a Ctrl-C in the
// terminal reaches only `jobqueue dev`, which then stops the children with
// one SIGTERM each (a second signal would make a worker exit undrained).
// Their output is forwarded line by line, prefixed with their name, and
// appended to <log_dir>/<name>.log when a log directory is set. A child
// that exits on its own is restarted, with a backoff when it keeps dying
// soon after starting, and each restart is reported. Owned by Dev(); the
// destructor kills whatever still runs.
#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace jobqueue::cli {

struct ChildSpec {
  std::string name;                        // log prefix
  std::string path;                        // executable
  std::map<std::string, std::string> env;  // added to this process's environment
};

class Supervisor {
 public:
  Supervisor() = default;
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Where each child's output is also appended (one file per child name);
  // empty: the terminal only. Set before the first Start.
  void SetLogDir(std::string dir) { log_dir_ = std::move(dir); }
  void Start(const ChildSpec& spec);
  // Reaps children that exited, reports them, and restarts those whose
  // backoff has passed. Never blocks; call periodically.
  void Check();

  // A child dying this soon after starting counts as a quick crash; after
  // kReportAfter in a row the report says it keeps crashing.
  static constexpr std::chrono::seconds kQuickCrash{30};
  static constexpr int kReportAfter = 3;
  // SIGTERM to every child, wait up to `grace` for all, then SIGKILL.
  void StopAll(std::chrono::seconds grace);

 private:
  struct Child {
    ChildSpec spec;
    pid_t pid = -1;
    std::thread forwarder;
    std::chrono::steady_clock::time_point started;
    int quick_crashes = 0;                                            // in a row
    std::optional<std::chrono::steady_clock::time_point> restart_at;  // set while waiting to restart
  };
  void Launch(Child& child);

  std::string log_dir_;
  std::vector<std::unique_ptr<Child>> children_;
};

// Prints a line to stdout with a name prefix; thread-safe.
void PrintPrefixed(const std::string& name, const std::string& line);

}  // namespace jobqueue::cli
