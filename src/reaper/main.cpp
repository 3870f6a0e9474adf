// jobqueue-reaper: reads its configuration from the environment, serves
// /health and /metrics, runs the ReaperService until SIGTERM/SIGINT.
// Exit codes: 0 stopped, 1 second signal, 2 bad configuration.
#include <unistd.h>

#include <atomic>
#include <iostream>

#include <spdlog/spdlog.h>

#include "core/env.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/ops_server.hpp"
#include "core/schema_gate.hpp"
#include "core/shutdown_signals.hpp"
#include "reaper/reaper_service.hpp"

namespace {

struct Config {
  jobqueue::reaper::ReaperOptions reaper;
  int metrics_port = 9091;  // REAPER_METRICS_PORT; 0: any free port
  jobqueue::core::LogConfig log;
};

Config ReadConfig(const jobqueue::core::Env& env) {
  Config c;
  auto& r = c.reaper;
  r.dsn = env.String("DATABASE_URL", "");
  r.reaper_id = env.String("HOSTNAME", "reaper-" + std::to_string(getpid()));
  r.interval_seconds = env.Double("REAPER_INTERVAL_SECONDS", 60, 0.05, 86400);
  r.retention_hours = jobqueue::core::JobRetentionHours(env);
  r.batch_size = static_cast<int>(env.Int("REAPER_BATCH_SIZE", 1000, 1, 100000));
  c.metrics_port = static_cast<int>(env.Int("REAPER_METRICS_PORT", 9091, 0, 65535));
  c.log.level = env.String("LOG_LEVEL", "info");
  c.log.format = jobqueue::core::ParseLogFormat(env.String("LOG_FORMAT", "json"));
  c.log.component = "reaper";
  return c;
}

}  // namespace

int main() {
  jobqueue::core::ShutdownSignals signals;  // first: every thread inherits the mask
  Config config;
  try {
    config = ReadConfig(jobqueue::core::Env());
    jobqueue::core::InitLogging(config.log);
  } catch (const jobqueue::ConfigError& e) {
    std::cerr << "jobqueue-reaper: configuration: " << e.what() << "\n";
    return 2;
  }
  jobqueue::core::Metrics metrics;
  jobqueue::reaper::ReaperService service(config.reaper, &metrics);
  // Until the schema is there the reaper waits: alive, not ready.
  jobqueue::core::SchemaGate schema(config.reaper.dsn);
  jobqueue::core::OpsServer ops(
      metrics,
      [&] { return schema.Liveness([&] { return service.Health(); }); },
      [&] { return schema.Readiness([&] { return service.Health(); }); });
  std::atomic<bool> stop_requested{false};
  try {
    ops.Start(config.metrics_port);
  } catch (const jobqueue::ConfigError& e) {
    std::cerr << "jobqueue-reaper: REAPER_METRICS_PORT: " << e.what() << "\n";
    return 2;
  }
  signals.Start(
      [&](int) {
        stop_requested = true;
        service.Stop();
      },
                [](int) {
                  spdlog::default_logger()->flush();
                  _exit(1);
                });
  const auto& r = config.reaper;
  spdlog::info("{}", jobqueue::core::LogFields(
                         "reaper started", {{"reaper_id", r.reaper_id},
                                            {"interval_seconds", r.interval_seconds},
                                            {"retention_hours", r.retention_hours},
                                            {"batch_size", r.batch_size},
                                            {"metrics_port", ops.port()}}));
  if (schema.Wait([&] { return stop_requested.load(); })) service.Run();
  spdlog::info("{}", jobqueue::core::LogFields("reaper stopped", {{"reaper_id", r.reaper_id}}));
  ops.Stop();
  return 0;
}
