#pragma once
// The `jobqueue` subcommands that talk to the database; those that act on
// jobs are in job_commands.hpp. Each returns the process exit code; main
// maps exceptions to codes.
#include <optional>
#include <string>
#include <vector>

namespace jobqueue::cli {

// Both talk to the database (DATABASE_URL), not to the API.
int Migrate(bool print_schema);
int Dev(std::optional<int> workers);

}  // namespace jobqueue::cli

namespace jobqueue::core {
struct MigrationReport;
namespace pg {
class Connection;
}
}  // namespace jobqueue::core

namespace jobqueue::cli {

// Shared by `migrate` and `dev`.
void PrintSchema(core::pg::Connection& conn);
void PrintReport(const core::MigrationReport& report);

}  // namespace jobqueue::cli
