#pragma once
// Migrator: applies migrations/*.sql in order, each in its own transaction,
// under a session advisory lock (safe from several pods at once), recording
// each in jobqueue.schema_migrations with a checksum. Refuses to touch a
// database whose recorded files changed or that is newer than this binary.
//
// A file whose first line is `-- jobqueue:no-transaction` runs outside a
// transaction, one statement at a time, split at each line that ends in
// ';' (no $-quoted bodies allowed): for CREATE INDEX CONCURRENTLY, which
// builds an index without blocking writes. Its statements must be safe to
// run again (IF NOT EXISTS), since an interrupted file starts over; an
// INVALID index it names, left by an interrupted concurrent build, is
// dropped first.
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

  // True when the file's first line is `-- jobqueue:no-transaction`.
  static bool IsNoTransaction(const SqlFile& file);

  // The statements of a no-transaction file, comments kept, split at each
  // line that ends in ';' outside a comment. Throws std::logic_error on a
  // $-quoted body (its lines may end in ';') or on text after the last ';'.
  static std::vector<std::string> SplitStatements(const SqlFile& file);

 private:
  static void ApplyWithoutTransaction(pg::Connection& conn, const SqlFile& file);

  struct Migration {
    int version;
    SqlFile file;
  };
  std::vector<Migration> migrations_;  // sorted by version
};

}  // namespace jobqueue::core
