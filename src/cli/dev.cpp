// `jobqueue dev`: the whole system on one machine. A private PostgreSQL
// (unless DATABASE_URL is set), migrated, then the REST API (on API_PORT,
// 8080), WORKER_REPLICAS workers and a reaper as child processes with their
// logs prefixed, until Ctrl-C, which drains the workers and stops PostgreSQL
// cleanly.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/commands.hpp"
#include "cli/supervisor.hpp"
#include "core/env.hpp"
#include "core/errors.hpp"
#include "core/local_postgres.hpp"
#include "core/migrator.hpp"
#include "core/pg/connection.hpp"

namespace jobqueue::cli {
namespace {

// The directory of the running `jobqueue` binary: the other binaries are
// built beside it.
std::string BinaryDir() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "." : self.parent_path().string();
}

// True when nothing listens on `port` on any address (the API binds 0.0.0.0).
bool PortFree(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as the API does
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return free;
}

// True when GET /health on 127.0.0.1:port answers 200.
bool ApiAnswers(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";
    char buf[32] = {};
    ok = send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()) &&
         recv(fd, buf, sizeof buf - 1, 0) >= 12 && std::string(buf).rfind("HTTP/1.1 200", 0) == 0;
  }
  close(fd);
  return ok;
}

// `value` in single quotes for a POSIX shell.
std::string ShellQuoted(const std::string& value) {
  std::string out = "'";
  for (char c : value) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// <dev dir>/env: what a script needs to reach this `jobqueue dev` (the
// examples source it). Removed when `jobqueue dev` stops; the pid says
// whether a file left by a killed run is stale.
class DevEnvFile {
 public:
  DevEnvFile(std::string path, const std::map<std::string, std::string>& vars) : path_(std::move(path)) {
    const std::string tmp = path_ + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      // It may carry the API key (JOBQUEUE_TOKEN): readable by its owner only.
      std::error_code ec;
      std::filesystem::permissions(tmp, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
      out << "# Written by `jobqueue dev` while it runs; removed when it stops.\n";
      for (const auto& [k, v] : vars) out << "export " << k << "=" << ShellQuoted(v) << "\n";
      if (!out) throw ConfigError("JOBQUEUE_DEV_DIR: cannot write " + tmp);
    }
    std::filesystem::rename(tmp, path_);
  }
  ~DevEnvFile() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  DevEnvFile(const DevEnvFile&) = delete;
  DevEnvFile& operator=(const DevEnvFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

int Dev(std::optional<int> workers) {
  core::Env env;
  // Block the stop signals before any thread or child exists: the loop
  // below is the one place that sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // --workers N, else WORKER_REPLICAS, else 2.
  const int replicas = workers ? *workers : static_cast<int>(env.Int("WORKER_REPLICAS", 2, 0, 64));
  if (replicas < 0 || replicas > 64) throw InvalidArgument("--workers: must be between 0 and 64");
  const std::string bin = env.String("JOBQUEUE_BIN_DIR", BinaryDir());
  for (const char* name : {"jobqueue-api", "jobqueue-worker", "jobqueue-reaper"}) {
    if (access((bin + "/" + name).c_str(), X_OK) != 0) {
      throw ConfigError("JOBQUEUE_BIN_DIR: no executable " + bin + "/" + name + " (build it first)");
    }
  }

  // The API's port: API_PORT (8080); 0 or a taken port means any free one,
  // said out loud, so a second `jobqueue dev` or a busy 8080 still starts.
  const int asked_port = static_cast<int>(env.Int("API_PORT", 8080, 0, 65535));
  int api_port = asked_port;
  if (api_port == 0 || !PortFree(api_port)) {
    api_port = core::FreeLoopbackPort();
    if (asked_port != 0) {
      PrintPrefixed("dev", "port " + std::to_string(asked_port) + " is already in use; the API listens on " +
                               std::to_string(api_port) + " instead (set API_PORT to choose)");
    }
  }

  // The dev directory holds PostgreSQL's data (unless DATABASE_URL is
  // given), this run's logs, one file per child, and the env file.
  const std::string dev_dir = std::filesystem::absolute(env.String("JOBQUEUE_DEV_DIR", ".jobqueue-dev")).string();
  const std::string log_dir = dev_dir + "/logs";
  {
    std::error_code ec;
    std::filesystem::remove_all(log_dir, ec);  // the previous run's logs
    std::filesystem::create_directories(log_dir, ec);
    if (ec) throw ConfigError("JOBQUEUE_DEV_DIR: cannot create " + log_dir + ": " + ec.message());
  }

  std::string dsn = env.String("DATABASE_URL", "");
  std::unique_ptr<core::LocalPostgres> postgres;
  if (dsn.empty()) {
    core::LocalPostgresOptions options;
    options.data_dir = dev_dir + "/pgdata";
    options.port = static_cast<int>(env.Int("JOBQUEUE_DEV_PG_PORT", 0, 0, 65535));
    postgres = std::make_unique<core::LocalPostgres>(options);
    std::cout << "dev: starting PostgreSQL in " << postgres->data_dir() << " (log "
              << postgres->log_path() << ")\n";
    postgres->Start();
    dsn = postgres->Dsn("postgres");
  }
  {
    core::pg::Connection conn(dsn);
    PrintReport(core::Migrator().Migrate(conn));
    PrintSchema(conn);
  }

  // Console logs unless the user asked otherwise; faster reaping than in
  // production so an experiment with short leases shows its effect.
  std::map<std::string, std::string> common = {{"DATABASE_URL", dsn},
                                               {"LOG_FORMAT", env.String("LOG_FORMAT", "console")}};
  Supervisor children;
  children.SetLogDir(log_dir);
  auto api_env = common;
  api_env["HOSTNAME"] = "api";
  api_env["API_PORT"] = std::to_string(api_port);
  children.Start({"api", bin + "/jobqueue-api", api_env});
  for (int i = 1; i <= replicas; ++i) {
    auto worker_env = common;
    worker_env["HOSTNAME"] = "worker-" + std::to_string(i);
    worker_env["WORKER_METRICS_PORT"] = std::to_string(core::FreeLoopbackPort());
    // On one machine the images to fetch are often on localhost.
    worker_env["IMAGE_FETCH_ALLOW_PRIVATE"] = env.String("IMAGE_FETCH_ALLOW_PRIVATE", "true");
    children.Start({"worker-" + std::to_string(i), bin + "/jobqueue-worker", worker_env});
  }
  auto reaper_env = common;
  reaper_env["HOSTNAME"] = "reaper";
  reaper_env["REAPER_INTERVAL_SECONDS"] = env.String("REAPER_INTERVAL_SECONDS", "5");
  reaper_env["REAPER_METRICS_PORT"] = std::to_string(core::FreeLoopbackPort());
  children.Start({"reaper", bin + "/jobqueue-reaper", reaper_env});

  // Wait (a little) for the API, so that the lines below work when printed.
  const auto api_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (!ApiAnswers(api_port) && std::chrono::steady_clock::now() < api_deadline) {
    children.Check();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(api_port);
  std::map<std::string, std::string> env_vars = {{"JOBQUEUE_URL", url},
                                                 {"DATABASE_URL", dsn},
                                                 {"JOBQUEUE_BIN_DIR", bin},
                                                 {"JOBQUEUE_DEV_LOGS", log_dir},
                                                 {"JOBQUEUE_DEV_PID", std::to_string(getpid())}};
  if (!env.String("API_SECRET_KEY", "").empty()) env_vars["JOBQUEUE_TOKEN"] = env.String("API_SECRET_KEY", "");
  DevEnvFile env_file(dev_dir + "/env", env_vars);
  const std::string auth = env.String("API_SECRET_KEY", "").empty() ? "" : " -H \"Authorization: Bearer $API_SECRET_KEY\"";
  PrintPrefixed("dev", "ready: API on " + url + ", " + std::to_string(replicas) +
                           " workers and a reaper on DATABASE_URL='" + dsn + "'");
  PrintPrefixed("dev", "  the dashboard: open " + url + "/ui/ in a browser" +
                           (auth.empty() ? "" : " (it asks for the API_SECRET_KEY)"));
  PrintPrefixed("dev", "  submit a job (prints it, keeps its id in $ID):");
  PrintPrefixed("dev", "  ID=$(curl -s -X POST " + url + "/v1/jobs" + auth +
                           " -H 'Content-Type: application/json' -d '{\"kind\":\"sleep\",\"payload\":{\"seconds\":1}}'"
                           " | tee /dev/stderr | sed -E 's/^\\{\"id\":([0-9]+).*/\\1/'); echo");
  PrintPrefixed("dev", "  read it back (succeeded after a second):");
  PrintPrefixed("dev", "  curl -s " + url + "/v1/jobs/$ID" + auth + "; echo");
  PrintPrefixed("dev", "  upload an image, as seed 003 does (answers once processed; open view_url in a browser):");
  PrintPrefixed("dev", "  curl -s -F file=@photo.jpg -F effects=bw,blur " + url + "/upload" + auth + "; echo");
  PrintPrefixed("dev", "  or with any ops, then fetch the result:");
  PrintPrefixed("dev", "  curl -s -F file=@photo.jpg -F ops=thumbnail:256x256,grayscale " + url + "/v1/images" + auth +
                           "; echo");
  PrintPrefixed("dev", "  then open " + url + "<view_url> in a browser, or: curl -s -o out.jpg " + url +
                           "/v1/jobs/<id>/result" + auth);
  PrintPrefixed("dev", "  or with the CLI, in another terminal (the env file sets JOBQUEUE_URL, JOBQUEUE_TOKEN, DATABASE_URL):");
  PrintPrefixed("dev", "  . " + env_file.path());
  PrintPrefixed("dev", "  " + bin + "/jobqueue image photo.jpg --ops thumbnail:256x256,grayscale --wait -o out.jpg");
  PrintPrefixed("dev", "  " + bin + "/jobqueue status --watch");
  PrintPrefixed("dev", "  psql '" + dsn + "' -c 'SELECT * FROM jobqueue.queue_depth'");
  PrintPrefixed("dev", "  the seeds' demos run against this: bash examples/upload.sh (README, \"Examples\")");
  PrintPrefixed("dev", "  logs, one file per process: " + log_dir);
  PrintPrefixed("dev", std::string("Ctrl-C drains the workers") + (postgres ? " and stops PostgreSQL" : ""));

  int signal_number = -1;
  const timespec tick{0, 200 * 1000 * 1000};
  while (signal_number < 0) {
    signal_number = sigtimedwait(&stop_signals, nullptr, &tick);
    if (signal_number < 0) children.Check();
  }
  PrintPrefixed("dev", std::string("got ") + (signal_number == SIGINT ? "SIGINT" : "SIGTERM") +
                           "; draining workers");
  // Workers drain within their grace period (WORKER_SHUTDOWN_GRACE_SECONDS,
  // 25 s by default); give them that and a little more.
  children.StopAll(std::chrono::seconds(30));
  if (postgres) {
    PrintPrefixed("dev", "stopping PostgreSQL");
    postgres->Stop();
  }
  return 0;
}

}  // namespace jobqueue::cli
