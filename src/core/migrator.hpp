#pragma once
// Migrator: applies migrations/*.sql in order, each in its own transaction,
// under a session advisory lock (safe from several pods at once), recording
// each in jobqueue.schema_migrations with a checksum. Refuses to touch a
// database whose recorded files changed or that is newer than this binary.
#include <string>
#include <vector>

#include "core/pg/connection.hpp"
#include "core/sql_catalog.hpp"

namespace jobqueue::core {

struct MigrationReport {
  int from_version = 0;              // schema version before the run
  int to_version = 0;                // after
  std::vector<std::string> applied;  // file names applied by this run
};

class Migrator {
 public:
  // `files` named NNNN_description.sql; throws std::logic_error on a name
  // without a version or a repeated version.
  explicit Migrator(std::vector<SqlFile> files = EmbeddedMigrations());

  // Applies what is pending. Throws SchemaMismatch (tampered or unknown
  // recorded file, database newer than this binary), or the error of the
  // failing file, whose transaction is then rolled back: earlier files stay.
  MigrationReport Migrate(pg::Connection& conn);

  // The highest version applied to the database (0: none). Does not lock.
  int CurrentVersion(pg::Connection& conn);

  // The highest version this binary carries.
  int LatestVersion() const;

  // Leading digits of a migration file name; throws std::logic_error.
  static int VersionOf(const std::string& file_name);

 private:
  struct Migration {
    int version;
    SqlFile file;
  };
  std::vector<Migration> migrations_;  // sorted by version
};

}  // namespace jobqueue::core
