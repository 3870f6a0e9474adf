// jobqueue: the command-line tool. Parses the subcommand, sets up logging
// from LOG_LEVEL/LOG_FORMAT, and turns errors into exit codes:
// 0 ok, 1 runtime failure, 2 usage or configuration, 3 schema mismatch,
// 4 database unreachable.
#include <iostream>
#include <map>

#include <spdlog/spdlog.h>

#include "cli/commands.hpp"
#include "core/env.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"

namespace {

constexpr const char* kUsage = R"(usage: jobqueue <command> [options]

commands:
  migrate [--print]            apply pending migrations to DATABASE_URL
  enqueue KIND [PAYLOAD_JSON]  enqueue one job; options: --queue Q --priority N
                               --delay SECONDS --max-attempts N --key IDEMPOTENCY_KEY
  status                       depth per queue and state
  dev                          local all-in-one: a private PostgreSQL (unless
                               DATABASE_URL is set), migrated, until Ctrl-C

environment: DATABASE_URL (libpq URI or key=value; empty: PG* variables),
             LOG_LEVEL (info), LOG_FORMAT (console|json)
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  const std::map<std::string, int (*)(const std::vector<std::string>&)> commands = {
      {"migrate", jobqueue::cli::Migrate},
      {"enqueue", jobqueue::cli::Enqueue},
      {"status", jobqueue::cli::Status},
      {"dev", jobqueue::cli::Dev},
  };
  const auto it = commands.find(command);
  if (it == commands.end()) {
    std::cerr << "jobqueue: unknown command '" << command << "'\n" << kUsage;
    return 2;
  }
  try {
    jobqueue::core::Env env;
    jobqueue::core::LogConfig log;
    log.level = env.String("LOG_LEVEL", "info");
    log.format = jobqueue::core::ParseLogFormat(env.String("LOG_FORMAT", "console"));
    log.component = command;
    jobqueue::core::InitLogging(log);
    return it->second(args);
  } catch (const jobqueue::ConfigError& e) {
    std::cerr << "jobqueue " << command << ": configuration: " << e.what() << "\n";
    return 2;
  } catch (const jobqueue::InvalidArgument& e) {
    std::cerr << "jobqueue " << command << ": " << e.what() << "\n";
    return 2;
  } catch (const jobqueue::SchemaMismatch& e) {
    std::cerr << "jobqueue " << command << ": schema: " << e.what() << "\n";
    return 3;
  } catch (const jobqueue::Transient& e) {
    std::cerr << "jobqueue " << command << ": database unreachable: " << e.what() << "\n";
    return 4;
  } catch (const std::exception& e) {
    std::cerr << "jobqueue " << command << ": " << e.what() << "\n";
    return 1;
  }
}
