// Migrator against a real PostgreSQL: fresh databases, reruns, concurrent
// runs, tampered files, newer databases and failing migrations.
#include <catch2/catch.hpp>

#include <atomic>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "core/errors.hpp"
#include "core/migrator.hpp"
#include "core/pg/connection.hpp"
#include "support/pg_fixture.hpp"

using jobqueue::SchemaMismatch;
using jobqueue::core::EmbeddedMigrations;
using jobqueue::core::MigrationReport;
using jobqueue::core::Migrator;
using jobqueue::core::SqlFile;
using jobqueue::core::pg::Connection;
using jobqueue::testing::TestDatabase;

namespace {

std::vector<std::string> EmbeddedNames() {
  std::vector<std::string> names;
  for (const auto& file : EmbeddedMigrations()) names.push_back(file.name);
  return names;
}

// Rows of schema_migrations as "version name checksum" lines, in order.
std::string RecordedMigrations(TestDatabase& db) {
  std::string out;
  for (const auto& row :
       db.Sql("SELECT version, name, checksum FROM jobqueue.schema_migrations ORDER BY version")) {
    out += row[0].as<std::string>() + " " + row[1].as<std::string>() + " " +
           row[2].as<std::string>() + "\n";
  }
  return out;
}

bool RelationExists(TestDatabase& db, const std::string& name) {
  return db.Scalar<bool>("SELECT to_regclass('" + name + "') IS NOT NULL");
}

// The embedded migrations with `name`'s text replaced by `text`.
std::vector<SqlFile> EmbeddedWith(const std::string& name, const std::string& text) {
  auto files = EmbeddedMigrations();
  for (auto& file : files) {
    if (file.name == name) file.text = text;
  }
  return files;
}

}  // namespace

TEST_CASE("Migrate applies every embedded migration to a fresh database and reports it",
          "[pg][migrator]") {
  TestDatabase db(false);
  Connection conn(db.dsn());
  Migrator migrator;
  const MigrationReport report = migrator.Migrate(conn);
  CHECK(report.from_version == 0);
  CHECK(report.to_version == migrator.LatestVersion());
  CHECK(report.to_version >= 1);
  CHECK(report.applied == EmbeddedNames());
}

TEST_CASE("Migrate creates the jobs table and the operators' views", "[pg][migrator]") {
  TestDatabase db(false);
  Connection conn(db.dsn());
  Migrator().Migrate(conn);
  for (const std::string name :
       {"jobqueue.jobs", "jobqueue.queue_depth", "jobqueue.running_jobs", "jobqueue.dead_jobs",
        "jobqueue.schema_migrations"}) {
    INFO("relation: " << name);
    CHECK(RelationExists(db, name));
  }
  CHECK(db.Scalar<std::string>(
            "SELECT table_type FROM information_schema.tables "
            "WHERE table_schema = 'jobqueue' AND table_name = 'queue_depth'") == "VIEW");
  CHECK(db.Scalar<long>("SELECT jobqueue.enqueue('noop')") > 0);
}

TEST_CASE("Migrate records each applied file with its sha256 checksum", "[pg][migrator]") {
  TestDatabase db(false);
  Connection conn(db.dsn());
  Migrator().Migrate(conn);
  const auto& files = EmbeddedMigrations();
  const auto rows =
      db.Sql("SELECT version, name, checksum FROM jobqueue.schema_migrations ORDER BY version");
  REQUIRE(rows.size() == files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    INFO("migration: " << files[i].name);
    CHECK(rows[i][0].as<int>() == Migrator::VersionOf(files[i].name));
    CHECK(rows[i][1].as<std::string>() == files[i].name);
    const auto checksum = rows[i][2].as<std::string>();
    CHECK(checksum.size() == 64);
    CHECK(checksum.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(checksum == conn.Exec("migrations_checksum", files[i].text)[0][0].as<std::string>());
  }
}

TEST_CASE("A second Migrate applies nothing and reports the same version", "[pg][migrator]") {
  TestDatabase db(false);
  Connection conn(db.dsn());
  Migrator migrator;
  migrator.Migrate(conn);
  const auto before = RecordedMigrations(db);
  const auto report = migrator.Migrate(conn);
  CHECK(report.applied.empty());
  CHECK(report.from_version == migrator.LatestVersion());
  CHECK(report.to_version == migrator.LatestVersion());
  CHECK(RecordedMigrations(db) == before);
}

TEST_CASE("Migrate on the already migrated template copy applies nothing", "[pg][migrator]") {
  TestDatabase db;  // migrated
  Connection conn(db.dsn());
  CHECK(Migrator().Migrate(conn).applied.empty());
}

TEST_CASE("Two concurrent Migrate runs both succeed and record each version once",
          "[pg][migrator]") {
  TestDatabase db(false);
  constexpr int kRunners = 2;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::exception_ptr> errors(kRunners);
  std::vector<MigrationReport> reports(kRunners);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRunners; ++i) {
    threads.emplace_back([&, i] {
      try {
        Connection conn(db.dsn());
        conn.Exec("migrations_table_exists");  // connected and prepared
        ++ready;
        while (!go) std::this_thread::yield();
        reports[i] = Migrator().Migrate(conn);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  }
  while (ready < kRunners) std::this_thread::yield();
  go = true;
  for (auto& t : threads) t.join();

  for (int i = 0; i < kRunners; ++i) {
    INFO("runner " << i);
    if (errors[i]) {
      try {
        std::rethrow_exception(errors[i]);
      } catch (const std::exception& e) {
        FAIL_CHECK("runner failed: " << e.what());
      }
    }
  }
  // One of them applied everything, the other found nothing left to do.
  const auto total_applied = reports[0].applied.size() + reports[1].applied.size();
  CHECK(total_applied == EmbeddedMigrations().size());
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.schema_migrations") ==
        static_cast<long>(EmbeddedMigrations().size()));
  CHECK(db.Scalar<long>("SELECT count(DISTINCT version) FROM jobqueue.schema_migrations") ==
        static_cast<long>(EmbeddedMigrations().size()));
  CHECK(RelationExists(db, "jobqueue.jobs"));
}

TEST_CASE("Migrate refuses a database whose applied migration file was edited", "[pg][migrator]") {
  TestDatabase db(false);
  Connection conn(db.dsn());
  Migrator().Migrate(conn);
  const auto before = RecordedMigrations(db);
  const auto& original = EmbeddedMigrations().front();
  REQUIRE(original.name == "0001_create_jobs.sql");

  Migrator tampered(EmbeddedWith(original.name, original.text + "\n-- edited"));
  CHECK_THROWS_AS(tampered.Migrate(conn), SchemaMismatch);
  CHECK(RecordedMigrations(db) == before);
}

TEST_CASE("Migrate refuses an edited file given alone, as the only migration", "[pg][migrator]") {
  TestDatabase db(false);
  Connection conn(db.dsn());
  Migrator().Migrate(conn);
  const auto before = RecordedMigrations(db);
  const auto& original = EmbeddedMigrations().front();
  Migrator tampered({SqlFile{"0001_create_jobs.sql", original.text + "\n-- edited"}});
  CHECK_THROWS_AS(tampered.Migrate(conn), SchemaMismatch);
  CHECK(RecordedMigrations(db) == before);
}

TEST_CASE("Migrate refuses a file renamed under an applied version", "[pg][migrator]") {
  TestDatabase db(false);
  Connection conn(db.dsn());
  Migrator().Migrate(conn);
  auto files = EmbeddedMigrations();
  files.front().name = "0001_renamed.sql";
  CHECK_THROWS_AS(Migrator(files).Migrate(conn), SchemaMismatch);
}

TEST_CASE("Migrate refuses a database newer than the binary", "[pg][migrator]") {
  TestDatabase db(false);
  Connection conn(db.dsn());
  Migrator migrator;
  migrator.Migrate(conn);
  db.Sql(
      "INSERT INTO jobqueue.schema_migrations (version, name, checksum) "
      "VALUES (9999, '9999_future.sql', 'abc')");
  const auto before = RecordedMigrations(db);
  CHECK_THROWS_AS(migrator.Migrate(conn), SchemaMismatch);
  CHECK(RecordedMigrations(db) == before);
}

TEST_CASE("A failing migration rolls back that file alone and throws", "[pg][migrator]") {
  TestDatabase db(false);
  Connection conn(db.dsn());
  auto files = EmbeddedMigrations();
  files.push_back(SqlFile{"9000_broken.sql", "CREATE TABLE jobqueue.x(); SELECT 1/0;"});
  Migrator migrator(files);
  CHECK_THROWS(migrator.Migrate(conn));

  CHECK_FALSE(RelationExists(db, "jobqueue.x"));
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.schema_migrations WHERE version = 9000") == 0);
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.schema_migrations") ==
        static_cast<long>(EmbeddedMigrations().size()));
  CHECK(RelationExists(db, "jobqueue.jobs"));
  CHECK(migrator.CurrentVersion(conn) == Migrator().LatestVersion());
}

TEST_CASE("A failed Migrate releases the migration lock", "[pg][migrator]") {
  TestDatabase db(false);
  Connection conn(db.dsn());
  auto files = EmbeddedMigrations();
  files.push_back(SqlFile{"9000_broken.sql", "SELECT 1/0;"});
  CHECK_THROWS(Migrator(files).Migrate(conn));
  // Another session must be able to migrate now, without waiting.
  Connection other(db.dsn());
  CHECK(db.Scalar<long>("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                        "(SELECT oid FROM pg_database WHERE datname = current_database())") == 0);
  CHECK(Migrator().Migrate(other).applied.empty());
}

TEST_CASE("CurrentVersion is 0 before migrating and the latest version after", "[pg][migrator]") {
  TestDatabase db(false);
  Connection conn(db.dsn());
  Migrator migrator;
  CHECK(migrator.CurrentVersion(conn) == 0);
  migrator.Migrate(conn);
  CHECK(migrator.CurrentVersion(conn) == migrator.LatestVersion());
  CHECK(migrator.LatestVersion() == Migrator::VersionOf(EmbeddedMigrations().back().name));
}

TEST_CASE("A no-transaction file is split at lines ending in ';' and refuses $-quoting",
          "[migrator]") {
  const SqlFile file{"0100_x.sql",
                     "-- jobqueue:no-transaction\n-- a comment;\nSELECT 1;\n\nCREATE VIEW v AS\n"
                     "SELECT 2 -- not the end\n  ;  \n-- trailing comment;\n"};
  CHECK(Migrator::IsNoTransaction(file));
  const auto statements = Migrator::SplitStatements(file);
  REQUIRE(statements.size() == 2);
  CHECK(statements[0].find("SELECT 1;") != std::string::npos);
  CHECK(statements[1].find("CREATE VIEW v AS\nSELECT 2 -- not the end\n  ;") != std::string::npos);

  CHECK_FALSE(Migrator::IsNoTransaction(SqlFile{"0100_x.sql", "-- jobqueue:no-transactions\nSELECT 1;"}));
  CHECK_FALSE(Migrator::IsNoTransaction(SqlFile{"0100_x.sql", "SELECT 1;\n-- jobqueue:no-transaction\n"}));
  CHECK_THROWS_AS(Migrator::SplitStatements(SqlFile{"0100_x.sql", "DO $$ BEGIN END $$;"}), std::logic_error);
  CHECK_THROWS_AS(Migrator::SplitStatements(SqlFile{"0100_x.sql", "SELECT 1;\nSELECT 2"}), std::logic_error);
}

TEST_CASE("A no-transaction file builds an index concurrently and starts over after an interruption",
          "[pg][migrator]") {
  TestDatabase db(false);
  Connection conn(db.dsn());
  Migrator().Migrate(conn);
  db.Sql("INSERT INTO jobqueue.jobs (kind) VALUES ('a'), ('a'), ('b')");
  // A unique index over duplicate kinds fails half-way, as an interrupted
  // build would, and leaves an INVALID index behind.
  auto files = EmbeddedMigrations();
  files.push_back(SqlFile{"9000_concurrent.sql",
                          "-- jobqueue:no-transaction\n"
                          "CREATE TABLE IF NOT EXISTS jobqueue.side (x int);\n"
                          "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS jobs_kind_once_idx\n"
                          "  ON jobqueue.jobs (kind);\n"});
  CHECK_THROWS(Migrator(files).Migrate(conn));
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.schema_migrations WHERE version = 9000") == 0);
  CHECK_FALSE(db.Scalar<bool>("SELECT indisvalid FROM pg_index WHERE indexrelid = 'jobqueue.jobs_kind_once_idx'::regclass"));
  CHECK(RelationExists(db, "jobqueue.side"));  // no transaction: what ran stays

  // Once the cause is gone, the next run drops the invalid index and builds it.
  db.Sql("DELETE FROM jobqueue.jobs WHERE kind = 'a' AND id = (SELECT min(id) FROM jobqueue.jobs)");
  const auto report = Migrator(files).Migrate(conn);
  CHECK(report.applied == std::vector<std::string>{"9000_concurrent.sql"});
  CHECK(db.Scalar<bool>("SELECT indisvalid FROM pg_index WHERE indexrelid = 'jobqueue.jobs_kind_once_idx'::regclass"));
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.schema_migrations WHERE version = 9000") == 1);
}
