#pragma once
// Test harness over a real PostgreSQL server.
//
// TestServer is the server for the whole run: the one at
// JOBQUEUE_TEST_DATABASE_URL when set (never plain DATABASE_URL, so a test
// run cannot wipe a real database), else a throwaway LocalPostgres in a
// temporary directory, started on first use and removed at exit. Works as
// root (the server runs as the `postgres` user) and as a normal user.
//
// TestDatabase isolates one test case: a database of its own, copied from a
// template migrated once per run (or left empty), dropped afterwards. Tests
// that race many connections simply open them all on its dsn().
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "core/job.hpp"
#include "core/sql_catalog.hpp"
#include "core/local_postgres.hpp"
#include "core/queue.hpp"

namespace jobqueue::testing {

class TestServer {
 public:
  static TestServer& Get();
  // Stops and removes the throwaway server (called by the test main).
  static void Shutdown();

  // A connection string for database `dbname` on the test server.
  std::string Dsn(const std::string& dbname) const;
  // The maintenance database, for CREATE/DROP DATABASE.
  std::string AdminDsn() const { return Dsn(admin_db_); }
  // The throwaway server, or null when JOBQUEUE_TEST_DATABASE_URL is used
  // (tests that stop or kill the server need it and skip otherwise).
  core::LocalPostgres* local() { return local_.get(); }

  // Name of the migrated template, created on first call.
  std::string MigratedTemplate();

  ~TestServer();

 private:
  TestServer();

  std::string base_dsn_;  // external server's DSN, empty when local
  std::string admin_db_ = "postgres";
  std::string temp_root_;
  std::unique_ptr<core::LocalPostgres> local_;
  std::string template_;
};

class TestDatabase {
 public:
  // migrated: a copy of the migrated template; else an empty database.
  explicit TestDatabase(bool migrated = true);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& dsn() const { return dsn_; }
  const std::string& name() const { return name_; }

  // Ad-hoc SQL to arrange or inspect rows (autocommit, own connection).
  pqxx::result Sql(const std::string& sql);
  // The database's now() + `interval` ("1 hour") as timestamptz text: the
  // `now` that claim, reclaim and prune accept, to move the clock.
  std::string NowPlus(const std::string& interval) {
    return Scalar<std::string>("SELECT (now() + interval '" + interval + "')::text");
  }
  // The first column of the first row as T.
  template <typename T>
  T Scalar(const std::string& sql) {
    return Sql(sql)[0][0].as<T>();
  }

 private:
  std::string name_;
  std::string dsn_;
  std::unique_ptr<pqxx::connection> conn_;
};

// Factory: a NewJob with defaults; tests set only the fields they are about.
core::NewJob MakeJob(const std::string& kind = "noop", nlohmann::json payload = nlohmann::json::object());

// Factory: a claim of up to `limit` jobs of `queue` by `worker`.
core::ClaimRequest ClaimFor(int limit, const std::string& queue = "default", const std::string& worker = "w",
                            double lease_seconds = 60);

// The leases of claimed jobs, in claim order: what Complete/CompleteMany take.
std::vector<core::Lease> Leases(const std::vector<core::ClaimedJob>& jobs);

// Counts every transition into succeeded, whoever caused it: a trigger
// appends (job_id, at, owner = lease_owner) to public.completions, so a test
// can show no job completed twice.
void CountCompletions(TestDatabase& db);

// The embedded migrations up to and including `version`: to build a
// database as an older release left it, then migrate it on.
std::vector<core::SqlFile> MigrationsUpTo(int version);

// Polls `condition` every 10 ms until true or `timeout_ms` passes.
bool WaitFor(const std::function<bool()>& condition, int timeout_ms);

}  // namespace jobqueue::testing
