#include "cli/commands.hpp"

#include <iostream>

#include "core/env.hpp"
#include "core/migrator.hpp"
#include "core/pg/connection.hpp"

namespace jobqueue::cli {

using core::Env;

void PrintSchema(core::pg::Connection& conn) {
  std::cout << "schema jobqueue:\n";
  for (const auto& row : conn.Exec("describe_schema")) {
    std::cout << "  " << (std::string(row["table_type"].c_str()) == "VIEW" ? "view  " : "table ")
              << row["table_name"].c_str() << " (" << row["columns"].c_str() << ")\n";
  }
}

void PrintReport(const core::MigrationReport& report) {
  if (report.applied.empty()) {
    std::cout << "migrate: schema is up to date at version " << report.to_version << "\n";
    return;
  }
  std::cout << "migrate: version " << report.from_version << " -> " << report.to_version
            << ", applied:";
  for (const auto& name : report.applied) std::cout << " " << name;
  std::cout << "\n";
}

int Migrate(bool print_schema) {
  core::pg::Connection conn(Env().String("DATABASE_URL", ""));
  PrintReport(core::Migrator().Migrate(conn));
  if (print_schema) PrintSchema(conn);
  return 0;
}

}  // namespace jobqueue::cli
