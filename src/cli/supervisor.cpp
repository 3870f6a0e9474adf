#include "cli/supervisor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <stdexcept>

extern char** environ;

namespace jobqueue::cli {
namespace {

std::mutex g_print_mutex;

std::string Describe(int status) {
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + std::to_string(WTERMSIG(status));
  return "stopped";
}

}  // namespace

void PrintPrefixed(const std::string& name, const std::string& line) {
  std::lock_guard<std::mutex> lk(g_print_mutex);
  std::cout << name << " | " << line << std::endl;
}

Supervisor::~Supervisor() { StopAll(std::chrono::seconds(0)); }

void Supervisor::Start(const ChildSpec& spec) {
  auto child = std::make_unique<Child>();
  child->spec = spec;
  Launch(*child);
  children_.push_back(std::move(child));
}

void Supervisor::Launch(Child& child) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e; ++e) {
    const std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos) merged[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [k, v] : child.spec.env) merged[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string path = child.spec.path;
  char* argv[] = {path.data(), nullptr};

  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    setpgid(0, 0);                      // Ctrl-C in the terminal is for `jobqueue dev` only
    prctl(PR_SET_PDEATHSIG, SIGTERM);   // and if it dies, its children drain and go too
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(pipe_fds[1], 1);
    dup2(pipe_fds[1], 2);
    execve(path.c_str(), argv, envp.data());
    std::perror(("exec " + path).c_str());
    _exit(127);
  }
  close(pipe_fds[1]);
  child.pid = pid;
  child.started = std::chrono::steady_clock::now();
  if (child.forwarder.joinable()) child.forwarder.join();
  const std::string log_path = log_dir_.empty() ? "" : log_dir_ + "/" + child.spec.name + ".log";
  child.forwarder = std::thread([fd = pipe_fds[0], name = child.spec.name, log_path] {
    FILE* in = fdopen(fd, "r");
    // Appended, so a restarted child's lines follow its previous run's.
    FILE* log = log_path.empty() ? nullptr : std::fopen(log_path.c_str(), "ae");
    char* line = nullptr;
    std::size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) > 0) {
      std::string text(line, static_cast<std::size_t>(n));
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
      PrintPrefixed(name, text);
      if (log) {
        std::fwrite(text.data(), 1, text.size(), log);
        std::fputc('\n', log);
        std::fflush(log);
      }
    }
    free(line);
    if (log) std::fclose(log);
    fclose(in);
  });
}

void Supervisor::Check() {
  const auto now = std::chrono::steady_clock::now();
  for (auto& child : children_) {
    if (child->pid <= 0) {
      if (child->restart_at && now >= *child->restart_at) {
        child->restart_at.reset();
        PrintPrefixed("dev", "restarting " + child->spec.name);
        Launch(*child);
      }
      continue;
    }
    int status = 0;
    if (waitpid(child->pid, &status, WNOHANG) != child->pid) continue;
    child->pid = -1;
    // A child that ran a while and then died is restarted at once; one that
    // dies soon after starting waits 1, 2, 4 ... 60 s, so a broken binary or
    // configuration does not spin.
    child->quick_crashes = now - child->started < kQuickCrash ? child->quick_crashes + 1 : 0;
    const auto delay = std::chrono::seconds(
        child->quick_crashes == 0 ? 0 : std::min<long>(60, 1L << std::min(child->quick_crashes - 1, 6)));
    child->restart_at = now + delay;
    std::string message = child->spec.name + " " + Describe(status) + "; restarting";
    if (delay.count() > 0) message += " in " + std::to_string(delay.count()) + " s";
    if (child->quick_crashes >= kReportAfter) {
      message += " (it has crashed " + std::to_string(child->quick_crashes) +
                 " times in a row, each within " + std::to_string(kQuickCrash.count()) +
                 " s of starting: see its log lines above)";
    }
    PrintPrefixed("dev", message);
  }
}

void Supervisor::StopAll(std::chrono::seconds grace) {
  for (auto& child : children_) {
    if (child->pid > 0) kill(child->pid, SIGTERM);
  }
  const auto until = std::chrono::steady_clock::now() + grace;
  for (auto& child : children_) {
    while (child->pid > 0) {
      int status = 0;
      if (waitpid(child->pid, &status, WNOHANG) == child->pid) {
        PrintPrefixed("dev", child->spec.name + " " + Describe(status));
        child->pid = -1;
        break;
      }
      if (std::chrono::steady_clock::now() >= until) {
        kill(child->pid, SIGKILL);
        waitpid(child->pid, &status, 0);
        PrintPrefixed("dev", child->spec.name + " did not stop in time; killed");
        child->pid = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (child->forwarder.joinable()) child->forwarder.join();
  }
}

}  // namespace jobqueue::cli
