#include "core/local_postgres.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <libpq-fe.h>

#include "core/errors.hpp"

namespace fs = std::filesystem;

namespace jobqueue::core {
namespace {

std::string NewestBinDir() {
  std::string best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const auto name = entry.path().filename().string();
    const int version = std::atoi(name.c_str());
    if (version > best_version && fs::exists(entry.path() / "bin" / "postgres")) {
      best_version = version;
      best = (entry.path() / "bin").string();
    }
  }
  if (best.empty()) {
    throw Error("no PostgreSQL server found under /usr/lib/postgresql (install postgresql)");
  }
  return best;
}

bool DirEmpty(const std::string& dir) {
  std::error_code ec;
  return !fs::exists(dir, ec) || fs::is_empty(dir, ec);
}

}  // namespace

int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw Error("could not find a free loopback port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

LocalPostgres::LocalPostgres(LocalPostgresOptions options) : options_(std::move(options)) {
  if (options_.data_dir.empty()) throw InvalidArgument("data_dir: required", "data_dir");
  options_.data_dir = fs::absolute(options_.data_dir).lexically_normal().string();
  while (options_.data_dir.size() > 1 && options_.data_dir.back() == '/') options_.data_dir.pop_back();
  bin_dir_ = options_.bin_dir.empty() ? NewestBinDir() : options_.bin_dir;
  port_ = options_.port;
  if (::geteuid() == 0) {
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) throw Error("running as root needs the 'postgres' system user (install postgresql)");
    as_postgres_user_ = true;
    run_uid_ = pw->pw_uid;
    run_gid_ = pw->pw_gid;
  }
}

LocalPostgres::~LocalPostgres() {
  try {
    Stop();
  } catch (const std::exception&) {
    Kill();
  }
  if (options_.remove_on_destroy) {
    std::error_code ec;
    fs::remove_all(options_.data_dir, ec);
    fs::remove(log_path(), ec);
  }
}

pid_t LocalPostgres::Spawn(const std::vector<std::string>& argv) {
  const int log_fd = ::open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw Error("cannot open " + log_path());
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    ::close(null_fd);
    throw Error("fork failed");
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::setpgid(0, 0);  // the terminal's Ctrl-C goes to us, not straight to the server
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // exec keeps a blocked mask; Stop() needs SIGINT
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    if (as_postgres_user_) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(run_gid_) != 0 || ::setuid(run_uid_) != 0) _exit(126);
    }
    // Set after setuid, which clears it: if we die, the server shuts down at once.
    ::prctl(PR_SET_PDEATHSIG, SIGQUIT);
    if (::getppid() != parent) _exit(125);
    ::execv(args[0], args.data());
    _exit(127);
  }
  ::close(log_fd);
  if (null_fd >= 0) ::close(null_fd);
  return pid;
}

void LocalPostgres::InitDb() {
  std::error_code ec;
  fs::create_directories(options_.data_dir, ec);
  if (ec) throw Error("cannot create " + options_.data_dir + ": " + ec.message());
  ::chmod(options_.data_dir.c_str(), 0700);
  if (as_postgres_user_) {
    if (::chown(options_.data_dir.c_str(), run_uid_, run_gid_) != 0) {
      throw Error("cannot hand " + options_.data_dir + " to the postgres user");
    }
  }
  std::vector<std::string> argv = {bin_dir_ + "/initdb", "-D", options_.data_dir, "-U", "postgres",
                                   "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8"};
  if (!options_.durable) argv.push_back("--no-sync");
  const pid_t pid = Spawn(argv);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string hint;
    if (as_postgres_user_) {
      hint = " (as root the server runs as user 'postgres', which must be able to reach " +
             options_.data_dir + ")";
    }
    throw Error("initdb failed for " + options_.data_dir + hint + ":\n" + LogTail());
  }
}

void LocalPostgres::Start() {
  if (Running()) return;
  if (DirEmpty(options_.data_dir) || !fs::exists(options_.data_dir + "/PG_VERSION")) InitDb();
  if (port_ == 0) port_ = FreeLoopbackPort();
  std::vector<std::string> argv = {bin_dir_ + "/postgres",
                                   "-D", options_.data_dir,
                                   "-p", std::to_string(port_),
                                   "-k", options_.data_dir,
                                   "-c", "listen_addresses=127.0.0.1",
                                   "-c", "max_connections=200",
                                   // A job table's dead rows are reused only after a VACUUM:
                                   // look every second, not every minute (README, "Kept
                                   // history": 7x smaller under churn than at 10 s).
                                   "-c", "autovacuum_naptime=1s"};
  if (!options_.durable) {
    for (const char* s : {"fsync=off", "synchronous_commit=off", "full_page_writes=off"}) {
      argv.push_back("-c");
      argv.push_back(s);
    }
  }
  for (const auto& s : options_.settings) {
    argv.push_back("-c");
    argv.push_back(s);
  }
  pid_ = Spawn(argv);
  WaitReady();
}

void LocalPostgres::WaitReady() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  const std::string dsn = Dsn("postgres") + " connect_timeout=2";
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw Error("postgres exited while starting:\n" + LogTail());
    }
    if (PQping(dsn.c_str()) == PQPING_OK) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  Kill();
  throw Error("postgres did not accept connections within 60 s:\n" + LogTail());
}

bool LocalPostgres::WaitExit(int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      pid_ = -1;
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void LocalPostgres::Stop() {
  if (!Running()) return;
  ::kill(pid_, SIGINT);  // fast shutdown: disconnect clients, checkpoint, exit
  if (WaitExit(60000)) return;
  ::kill(pid_, SIGQUIT);  // immediate shutdown
  if (WaitExit(10000)) return;
  Kill();
}

void LocalPostgres::Crash() {
  if (!Running()) return;
  ::kill(pid_, SIGQUIT);
  if (WaitExit(10000)) return;
  Kill();
}

void LocalPostgres::Kill() {
  if (!Running()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string LocalPostgres::Dsn(const std::string& dbname) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + dbname;
}

std::string LocalPostgres::LogTail() const {
  std::ifstream in(log_path());
  std::stringstream all;
  all << in.rdbuf();
  auto text = all.str();
  if (text.size() > 4000) text = text.substr(text.size() - 4000);
  return text;
}

}  // namespace jobqueue::core
