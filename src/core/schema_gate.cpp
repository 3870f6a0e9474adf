#include "core/schema_gate.hpp"

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/migrator.hpp"

namespace jobqueue::core {

SchemaGate::SchemaGate(std::string dsn) : dsn_(std::move(dsn)) {}

bool SchemaGate::Wait(const std::function<bool()>& stop) {
  using Clock = std::chrono::steady_clock;
  const Migrator migrator;
  const int needed = migrator.LatestVersion();
  auto next_log = Clock::now();
  while (!stop()) {
    std::string waiting_for;
    try {
      pg::Connection conn(dsn_);
      const int version = Migrator().CurrentVersion(conn);
      seen_version_ = version;
      if (version >= needed) {
        passed_ = true;
        return true;
      }
      waiting_for = "the schema";
    } catch (const std::exception& e) {
      waiting_for = std::string("the database (") + e.what() + ")";
    }
    if (Clock::now() >= next_log) {
      spdlog::warn("{}", LogFields("waiting for " + waiting_for + "; run jobqueue migrate",
                                   {{"schema_version", seen_version_.load()},
                                    {"schema_version_needed", needed}}));
      next_log = Clock::now() + std::chrono::seconds(30);
    }
    for (int i = 0; i < 10 && !stop(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

HealthReport SchemaGate::Liveness(const std::function<HealthReport()>& running) const {
  if (passed_) return running();
  auto waiting = WaitingReport();
  waiting.healthy = true;
  return waiting;
}

HealthReport SchemaGate::Readiness(const std::function<HealthReport()>& running) const {
  return passed_ ? running() : WaitingReport();
}

HealthReport SchemaGate::WaitingReport() const {
  const nlohmann::json body = {{"status", "waiting_for_schema"},
                               {"schema_version", seen_version_.load()},
                               {"schema_version_needed", Migrator().LatestVersion()},
                               {"hint", "run jobqueue migrate"}};
  return {false, body.dump()};
}

}  // namespace jobqueue::core
