#include "cli/commands.hpp"

#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include <spdlog/spdlog.h>

#include "core/env.hpp"
#include "core/errors.hpp"
#include "core/local_postgres.hpp"
#include "core/migrator.hpp"
#include "core/pg/connection.hpp"
#include "core/queue.hpp"

namespace jobqueue::cli {
namespace {

using core::Env;

// The value after `flag` at args[i]; advances i. Throws InvalidArgument.
std::string FlagValue(const std::vector<std::string>& args, std::size_t& i) {
  if (i + 1 >= args.size()) throw InvalidArgument(args[i] + ": needs a value");
  return args[++i];
}

int ParseInt(const std::string& flag, const std::string& text) {
  try {
    std::size_t used = 0;
    const int value = std::stoi(text, &used);
    if (used == text.size()) return value;
  } catch (const std::exception&) {
  }
  throw InvalidArgument(flag + ": '" + text + "' is not an integer");
}

}  // namespace

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

int Migrate(const std::vector<std::string>& args) {
  bool print = false;
  for (const auto& a : args) {
    if (a == "--print") {
      print = true;
    } else {
      throw InvalidArgument("migrate: unknown option '" + a + "'");
    }
  }
  core::pg::Connection conn(Env().String("DATABASE_URL", ""));
  PrintReport(core::Migrator().Migrate(conn));
  if (print) PrintSchema(conn);
  return 0;
}

int Enqueue(const std::vector<std::string>& args) {
  core::NewJob job;
  std::optional<double> delay;
  std::vector<std::string> positional;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--queue") {
      job.queue = FlagValue(args, i);
    } else if (a == "--priority") {
      job.priority = ParseInt(a, FlagValue(args, i));
    } else if (a == "--max-attempts") {
      job.max_attempts = ParseInt(a, FlagValue(args, i));
    } else if (a == "--key") {
      job.idempotency_key = FlagValue(args, i);
    } else if (a == "--delay") {
      delay = ParseInt(a, FlagValue(args, i));
    } else if (a.rfind("--", 0) == 0) {
      throw InvalidArgument("enqueue: unknown option '" + a + "'");
    } else {
      positional.push_back(a);
    }
  }
  if (positional.empty() || positional.size() > 2) {
    throw InvalidArgument("enqueue: usage: jobqueue enqueue KIND [PAYLOAD_JSON] [options]");
  }
  job.kind = positional[0];
  if (positional.size() == 2) {
    job.payload = nlohmann::json::parse(positional[1], nullptr, false);
    if (job.payload.is_discarded()) throw InvalidArgument("payload: not valid JSON", "payload");
  }
  core::pg::Connection conn(Env().String("DATABASE_URL", ""));
  if (delay) {
    // Database time, so the delay is exact whatever this machine's clock says.
    job.run_at = conn.Exec("now_plus_seconds", *delay)[0][0].as<std::string>();
  }
  const auto result = core::Queue(conn).Enqueue(job);
  std::cout << nlohmann::json{{"id", result.id}, {"created", result.created}}.dump() << "\n";
  return 0;
}

int Status(const std::vector<std::string>& args) {
  if (!args.empty()) throw InvalidArgument("status: takes no arguments");
  core::pg::Connection conn(Env().String("DATABASE_URL", ""));
  std::printf("%-24s %-10s %10s %10s %14s\n", "queue", "state", "jobs", "due", "oldest_due_s");
  for (const auto& row : core::Queue(conn).Depth()) {
    std::printf("%-24s %-10s %10lld %10lld %14s\n", row.queue.c_str(), row.state.c_str(),
                static_cast<long long>(row.jobs), static_cast<long long>(row.due),
                row.oldest_queued_seconds ? std::to_string(*row.oldest_queued_seconds).c_str() : "-");
  }
  return 0;
}

}  // namespace jobqueue::cli
