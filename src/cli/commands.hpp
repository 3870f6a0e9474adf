#pragma once
// The `jobqueue` subcommands. Each returns the process exit code; main maps
// exceptions to codes. `args` excludes the program and subcommand names.
#include <string>
#include <vector>

namespace jobqueue::cli {

int Migrate(const std::vector<std::string>& args);
int Enqueue(const std::vector<std::string>& args);
int Status(const std::vector<std::string>& args);
int Dev(const std::vector<std::string>& args);

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
