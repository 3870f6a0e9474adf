// jobqueue-api: reads its configuration from the environment (see
// api/api_config.hpp and the README), serves the REST API until SIGTERM or
// SIGINT, then finishes the requests in flight and exits.
// Exit codes: 0 stopped, 1 second signal, 2 bad configuration or port in use.
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <mutex>

#include <spdlog/spdlog.h>

#include "api/api_config.hpp"
#include "api/api_server.hpp"
#include "core/env.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/shutdown_signals.hpp"

int main() {
  jobqueue::core::ShutdownSignals signals;  // first: every thread inherits the mask
  jobqueue::api::ApiConfig config;
  try {
    config = jobqueue::api::ReadApiConfig(jobqueue::core::Env());
    jobqueue::core::InitLogging(config.log);
  } catch (const jobqueue::ConfigError& e) {
    std::cerr << "jobqueue-api: configuration: " << e.what() << "\n";
    return 2;
  }
  // A database host that drops packets would otherwise hold a request for
  // the kernel's TCP timeout on every connection attempt; libpq reads this
  // default when DATABASE_URL does not set connect_timeout itself.
  setenv("PGCONNECT_TIMEOUT", "5", /*overwrite=*/0);

  jobqueue::core::Metrics metrics;
  jobqueue::api::ApiServer server(config, metrics);
  try {
    server.Start();
  } catch (const jobqueue::ConfigError& e) {
    std::cerr << "jobqueue-api: " << e.what() << "\n";
    return 2;
  }

  std::mutex mutex;
  std::condition_variable stopped;
  bool stop = false;
  signals.Start(
      [&](int sig) {
        spdlog::info("{}", jobqueue::core::LogFields("signal received; finishing requests", {{"signal", sig}}));
        {
          std::lock_guard<std::mutex> lock(mutex);
          stop = true;
        }
        stopped.notify_all();
      },
      [](int sig) {
        spdlog::warn("{}", jobqueue::core::LogFields("second signal; exiting now", {{"signal", sig}}));
        spdlog::default_logger()->flush();
        _exit(1);
      });

  spdlog::info("{}", jobqueue::core::LogFields(
                         "api listening", {{"address", config.bind_address},
                                           {"port", server.port()},
                                           {"auth", config.secret_key.empty() ? "off" : "bearer"},
                                           {"db_pool_size", config.db_pool_size},
                                           {"threads", config.threads},
                                           {"max_body_bytes", config.max_body_bytes}}));
  {
    std::unique_lock<std::mutex> lock(mutex);
    stopped.wait(lock, [&] { return stop; });
  }
  server.Stop();
  spdlog::info("{}", jobqueue::core::LogFields("api stopped", {{"port", server.port()}}));
  spdlog::default_logger()->flush();
  return 0;
}
