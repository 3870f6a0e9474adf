// `jobqueue dev`: the whole system on one machine. A private PostgreSQL
// (unless DATABASE_URL is set), migrated, then WORKER_REPLICAS workers and a
// reaper as child processes with their logs prefixed, until Ctrl-C, which
// drains the workers and stops PostgreSQL cleanly.
#include <signal.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>

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

}  // namespace

int Dev(const std::vector<std::string>& args) {
  if (!args.empty()) throw InvalidArgument("dev: takes no arguments");
  core::Env env;
  // Block the stop signals before any thread or child exists: the loop
  // below is the one place that sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const int replicas = static_cast<int>(env.Int("WORKER_REPLICAS", 2, 0, 64));
  const std::string bin = env.String("JOBQUEUE_BIN_DIR", BinaryDir());
  for (const char* name : {"jobqueue-worker", "jobqueue-reaper"}) {
    if (access((bin + "/" + name).c_str(), X_OK) != 0) {
      throw ConfigError("JOBQUEUE_BIN_DIR: no executable " + bin + "/" + name + " (build it first)");
    }
  }

  std::string dsn = env.String("DATABASE_URL", "");
  std::unique_ptr<core::LocalPostgres> postgres;
  if (dsn.empty()) {
    core::LocalPostgresOptions options;
    options.data_dir = env.String("JOBQUEUE_DEV_DIR", ".jobqueue-dev") + "/pgdata";
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
  for (int i = 1; i <= replicas; ++i) {
    auto worker_env = common;
    worker_env["HOSTNAME"] = "worker-" + std::to_string(i);
    worker_env["WORKER_METRICS_PORT"] = std::to_string(core::FreeLoopbackPort());
    children.Start({"worker-" + std::to_string(i), bin + "/jobqueue-worker", worker_env});
  }
  auto reaper_env = common;
  reaper_env["HOSTNAME"] = "reaper";
  reaper_env["REAPER_INTERVAL_SECONDS"] = env.String("REAPER_INTERVAL_SECONDS", "5");
  reaper_env["REAPER_METRICS_PORT"] = std::to_string(core::FreeLoopbackPort());
  children.Start({"reaper", bin + "/jobqueue-reaper", reaper_env});

  PrintPrefixed("dev", "ready: " + std::to_string(replicas) + " workers and a reaper on DATABASE_URL='" + dsn + "'");
  PrintPrefixed("dev", "  psql '" + dsn + "' -c \"SELECT jobqueue.enqueue('sleep', '{\\\"seconds\\\": 1}')\"");
  PrintPrefixed("dev", "  psql '" + dsn + "' -c 'SELECT * FROM jobqueue.queue_depth'");
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
