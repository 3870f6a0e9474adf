// The embedded SQL catalog: statement parsing, the runtime statements the
// code prepares by name, and the embedded migrations' naming.
#include <catch2/catch.hpp>

#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/migrator.hpp"
#include "core/sql_catalog.hpp"

using jobqueue::core::EmbeddedMigrations;
using jobqueue::core::EmbeddedStatementFiles;
using jobqueue::core::Migrator;
using jobqueue::core::ParseStatements;
using jobqueue::core::SqlFile;
using jobqueue::core::Statements;

TEST_CASE("Statements holds every statement the code executes by name", "[sql]") {
  const auto& statements = Statements();
  for (const std::string name :
       {"enqueue_job", "enqueue_jobs", "find_by_idempotency_key", "claim_jobs", "heartbeat_jobs",
        "complete_jobs", "fail_job", "cancel_job", "retry_job", "get_job", "reclaim_expired",
        "prune_finished", "queue_depth", "migrations_try_lock", "migrations_unlock",
        "migrations_create_schema", "migrations_create_table", "migrations_table_exists",
        "migrations_applied", "migrations_checksum", "migrations_record", "describe_schema",
        "now_plus_seconds"}) {
    INFO("statement: " << name);
    const auto it = statements.find(name);
    REQUIRE(it != statements.end());
    CHECK(it->second.find_first_not_of(" \t\r\n") != std::string::npos);
  }
}

TEST_CASE("Statements never contain another statement's header", "[sql]") {
  for (const auto& [name, sql] : Statements()) {
    INFO("statement: " << name);
    CHECK(sql.find("-- name:") == std::string::npos);
  }
}

TEST_CASE("Every embedded statement file parses without error", "[sql]") {
  REQUIRE_FALSE(EmbeddedStatementFiles().empty());
  for (const auto& file : EmbeddedStatementFiles()) {
    INFO("file: " << file.name);
    CHECK_NOTHROW(ParseStatements({file}));
  }
}

TEST_CASE("ParseStatements splits a file at each header and keeps the SQL", "[sql]") {
  const auto statements = ParseStatements({SqlFile{"a.sql",
                                                   "-- leading comment\n"
                                                   "\n"
                                                   "-- name: first\n"
                                                   "SELECT 1;\n"
                                                   "-- name: second  \n"
                                                   "-- a comment inside\n"
                                                   "SELECT 2;\n"}});
  REQUIRE(statements.size() == 2);
  CHECK(statements.at("first") == "SELECT 1;\n");
  CHECK(statements.at("second").find("SELECT 2;") != std::string::npos);
  CHECK(statements.at("second").find("SELECT 1;") == std::string::npos);
}

TEST_CASE("ParseStatements merges statements from several files", "[sql]") {
  const auto statements = ParseStatements(
      {SqlFile{"a.sql", "-- name: a\nSELECT 'a';\n"}, SqlFile{"b.sql", "-- name: b\nSELECT 'b';\n"}});
  CHECK(statements.size() == 2);
  CHECK(statements.count("a") == 1);
  CHECK(statements.count("b") == 1);
}

TEST_CASE("ParseStatements refuses a duplicate name within one file", "[sql]") {
  CHECK_THROWS_AS(ParseStatements({SqlFile{"a.sql", "-- name: x\nSELECT 1;\n-- name: x\nSELECT 2;\n"}}),
                  std::logic_error);
}

TEST_CASE("ParseStatements refuses a duplicate name across files", "[sql]") {
  CHECK_THROWS_AS(ParseStatements({SqlFile{"a.sql", "-- name: x\nSELECT 1;\n"},
                                   SqlFile{"b.sql", "-- name: x\nSELECT 2;\n"}}),
                  std::logic_error);
}

TEST_CASE("ParseStatements refuses SQL before the first header", "[sql]") {
  CHECK_THROWS_AS(ParseStatements({SqlFile{"a.sql", "-- fine\nSELECT 0;\n-- name: x\nSELECT 1;\n"}}),
                  std::logic_error);
}

TEST_CASE("ParseStatements refuses SQL at the top of a later file", "[sql]") {
  // Each file starts without a current statement: its SQL must not be
  // appended to the previous file's last statement.
  CHECK_THROWS_AS(ParseStatements({SqlFile{"a.sql", "-- name: x\nSELECT 1;\n"},
                                   SqlFile{"b.sql", "SELECT 2;\n-- name: y\nSELECT 3;\n"}}),
                  std::logic_error);
}

TEST_CASE("ParseStatements refuses an empty statement name", "[sql]") {
  CHECK_THROWS_AS(ParseStatements({SqlFile{"a.sql", "-- name:   \nSELECT 1;\n"}}), std::logic_error);
}

TEST_CASE("ParseStatements error names the offending file", "[sql]") {
  try {
    ParseStatements({SqlFile{"broken_file.sql", "SELECT 1;\n"}});
    FAIL("expected std::logic_error");
  } catch (const std::logic_error& e) {
    CHECK(std::string(e.what()).find("broken_file.sql") != std::string::npos);
  }
}

TEST_CASE("Embedded migrations are named NNNN_description.sql in increasing order", "[sql]") {
  const auto& migrations = EmbeddedMigrations();
  REQUIRE_FALSE(migrations.empty());
  CHECK(migrations.front().name == "0001_create_jobs.sql");
  const std::regex pattern("^[0-9]{4}_[a-z0-9_]+\\.sql$");
  int previous = 0;
  for (const auto& file : migrations) {
    INFO("migration: " << file.name);
    CHECK(std::regex_match(file.name, pattern));
    CHECK_FALSE(file.text.empty());
    const int version = Migrator::VersionOf(file.name);
    CHECK(version > previous);
    previous = version;
  }
  CHECK(Migrator().LatestVersion() == previous);
}

TEST_CASE("Migrator::VersionOf reads the leading digits", "[sql][migrator]") {
  CHECK(Migrator::VersionOf("0001_create_jobs.sql") == 1);
  CHECK(Migrator::VersionOf("0042_x.sql") == 42);
  CHECK(Migrator::VersionOf("9000_broken.sql") == 9000);
}

TEST_CASE("Migrator::VersionOf refuses names without a version prefix", "[sql][migrator]") {
  for (const std::string bad :
       {"", "create_jobs.sql", "_0001.sql", "0001", "0001create.sql", "0001-create.sql",
        "1234567890_too_long.sql", "abc_0001.sql"}) {
    INFO("name: '" << bad << "'");
    CHECK_THROWS_AS(Migrator::VersionOf(bad), std::logic_error);
  }
}

TEST_CASE("Migrator refuses two files with the same version", "[sql][migrator]") {
  CHECK_THROWS_AS(Migrator({SqlFile{"0001_a.sql", "SELECT 1;"}, SqlFile{"0001_b.sql", "SELECT 2;"}}),
                  std::logic_error);
}

TEST_CASE("Migrator refuses a file named without a version", "[sql][migrator]") {
  CHECK_THROWS_AS(Migrator({SqlFile{"create_jobs.sql", "SELECT 1;"}}), std::logic_error);
}
