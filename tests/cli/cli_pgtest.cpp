// The `jobqueue` binary's database commands end to end: exit codes and
// output of migrate against a test database, usage errors, logging
// configuration. The commands that talk to the API: tests/api/cli_api_pgtest.cpp.
#include <catch2/catch.hpp>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/cli_runner.hpp"
#include "support/pg_fixture.hpp"

using jobqueue::testing::TestDatabase;

namespace {

using jobqueue::testing::RunResult;

RunResult RunCli(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  return jobqueue::testing::RunCli(JOBQUEUE_CLI_PATH, args, env);
}

RunResult RunCli(const std::vector<std::string>& args, const TestDatabase& db) {
  return RunCli(args, {{"DATABASE_URL", db.dsn()}});
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Migrates `db` with the CLI; the test stops if that fails.
void MigrateWithCli(const TestDatabase& db) {
  const auto run = RunCli({"migrate"}, db);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  REQUIRE(run.exit_code == 0);
}

}  // namespace

TEST_CASE("cli migrate on an empty database exits 0 and names the applied file", "[pg][cli]") {
  TestDatabase db(false);
  const auto run = RunCli({"migrate"}, db);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  CHECK(run.exit_code == 0);
  CHECK(Contains(run.out, "0001_create_jobs.sql"));
  CHECK(Contains(run.out, "applied"));
  CHECK(db.Scalar<bool>("SELECT to_regclass('jobqueue.jobs') IS NOT NULL"));
}

TEST_CASE("cli migrate a second time exits 0 and says the schema is up to date", "[pg][cli]") {
  TestDatabase db(false);
  MigrateWithCli(db);
  const auto run = RunCli({"migrate"}, db);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  CHECK(run.exit_code == 0);
  CHECK(Contains(run.out, "up to date"));
  CHECK_FALSE(Contains(run.out, "0001_create_jobs.sql"));
}

TEST_CASE("cli with an unknown command exits 2 and prints the usage", "[pg][cli]") {
  TestDatabase db(false);
  const auto run = RunCli({"frobnicate"}, db);
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  CHECK(run.exit_code == 2);
  CHECK(Contains(run.err, "frobnicate"));
  CHECK(Contains(run.err, "--help"));
}

TEST_CASE("cli without a command exits 2", "[pg][cli]") {
  const auto run = RunCli({}, std::map<std::string, std::string>{});
  CHECK(run.exit_code == 2);
  CHECK(Contains(run.err, "subcommand is required"));
}

TEST_CASE("cli with an unreachable database exits 4", "[pg][cli]") {
  const std::map<std::string, std::string> env = {
      {"DATABASE_URL", "host=127.0.0.1 port=1 user=postgres dbname=none connect_timeout=5"}};
  for (const std::vector<std::string>& args : {std::vector<std::string>{"migrate"}}) {
    INFO("command: " << args[0]);
    const auto run = RunCli(args, env);
    INFO("stdout: " << run.out << "\nstderr: " << run.err);
    CHECK(run.exit_code == 4);
    CHECK(Contains(run.err, "unreachable"));
  }
}

TEST_CASE("cli with a bogus LOG_LEVEL exits 2 naming LOG_LEVEL", "[pg][cli]") {
  TestDatabase db(false);
  const auto run = RunCli({"migrate"}, {{"DATABASE_URL", db.dsn()}, {"LOG_LEVEL", "bogus"}});
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  CHECK(run.exit_code == 2);
  CHECK(Contains(run.err, "LOG_LEVEL"));
  // Refused before touching the database.
  CHECK_FALSE(db.Scalar<bool>("SELECT to_regclass('jobqueue.schema_migrations') IS NOT NULL"));
}

TEST_CASE("cli with a bogus LOG_FORMAT exits 2 naming LOG_FORMAT", "[pg][cli]") {
  TestDatabase db(false);
  const auto run = RunCli({"migrate"}, {{"DATABASE_URL", db.dsn()}, {"LOG_FORMAT", "xml"}});
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  CHECK(run.exit_code == 2);
  CHECK(Contains(run.err, "LOG_FORMAT"));
}

TEST_CASE("cli accepts LOG_LEVEL=warn", "[pg][cli]") {
  TestDatabase db(false);
  const auto run = RunCli({"migrate"}, {{"DATABASE_URL", db.dsn()}, {"LOG_LEVEL", "warn"}});
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  CHECK(run.exit_code == 0);
}
