#pragma once
// The SQL embedded at build time: migrations/ and src/core/sql/*.sql.
#include <map>
#include <string>
#include <vector>

namespace jobqueue::core {

struct SqlFile {
  std::string name;  // file name, e.g. "0001_create_jobs.sql"
  std::string text;
};

// migrations/*.sql in file-name order (generated at build time).
const std::vector<SqlFile>& EmbeddedMigrations();
// src/core/sql/*.sql (generated at build time).
const std::vector<SqlFile>& EmbeddedStatementFiles();

// Splits files into statements headed `-- name: x`. Throws std::logic_error
// on a duplicate name or text before the first header other than comments.
std::map<std::string, std::string> ParseStatements(const std::vector<SqlFile>& files);

// Every runtime statement by name, parsed once.
const std::map<std::string, std::string>& Statements();

}  // namespace jobqueue::core
