#pragma once
// LocalPostgres: a private PostgreSQL server in a data directory this process
// owns, for `jobqueue dev` and the test harness. Creates the cluster with
// initdb when the directory is empty, runs `postgres` as a child process on a
// loopback port (as root it runs as the `postgres` system user, since the
// server refuses root), and stops it on Stop() or destruction. Create and
// destroy it on the same thread: the server is tied to that thread's life
// (PR_SET_PDEATHSIG) so a crashed parent never leaves it behind.
#include <string>
#include <sys/types.h>
#include <vector>

namespace jobqueue::core {

struct LocalPostgresOptions {
  std::string data_dir;                     // the cluster; created if missing or empty
  int port = 0;                             // 0: a free loopback port, kept across restarts
  bool durable = true;                      // false: fsync and full-page writes off (tests)
  bool remove_on_destroy = false;           // delete data_dir when destroyed (throwaway)
  std::string bin_dir;                      // empty: newest /usr/lib/postgresql/*/bin
  std::vector<std::string> settings;        // extra "name=value" server settings
};

class LocalPostgres {
 public:
  explicit LocalPostgres(LocalPostgresOptions options);
  ~LocalPostgres();
  LocalPostgres(const LocalPostgres&) = delete;
  LocalPostgres& operator=(const LocalPostgres&) = delete;

  // initdb if needed, start the server, wait until it accepts connections.
  // Throws Error with the tail of the server log when it cannot start.
  void Start();
  // Fast shutdown (SIGINT): rolls back open transactions, waits for exit.
  void Stop();
  // Immediate shutdown (SIGQUIT), what `pg_ctl stop -m immediate` does: no
  // shutdown checkpoint, sessions cut off, crash recovery on the next
  // Start(). How a crashed or evicted database looks to its clients.
  void Crash();
  // SIGKILL the postmaster, as a crash would (tests).
  void Kill();
  bool Running() const { return pid_ > 0; }

  // libpq key=value string for `dbname` as the superuser `postgres`.
  std::string Dsn(const std::string& dbname = "postgres") const;
  int port() const { return port_; }
  const std::string& data_dir() const { return options_.data_dir; }
  std::string log_path() const { return options_.data_dir + ".log"; }

 private:
  void InitDb();
  pid_t Spawn(const std::vector<std::string>& argv);
  void WaitReady();
  bool WaitExit(int timeout_ms);
  std::string LogTail() const;

  LocalPostgresOptions options_;
  std::string bin_dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool as_postgres_user_ = false;  // we are root and run the server as `postgres`
  uid_t run_uid_ = 0;
  gid_t run_gid_ = 0;
};

// A free TCP port on 127.0.0.1 (bound and released; racy but fine locally).
int FreeLoopbackPort();

}  // namespace jobqueue::core
