// Liveness before the loop begins. The schema gate hands /health to the
// worker and the reaper a moment before their Run() records its first tick;
// a probe landing in that moment must read "starting", not "stuck" (a 503
// there once failed `jobqueue dev`'s end-to-end test on a loaded machine).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "core/metrics.hpp"
#include "reaper/reaper_service.hpp"
#include "worker/handlers.hpp"
#include "worker/worker.hpp"

namespace jobqueue::testing {

TEST_CASE("a worker whose loop has not started yet is alive and says it is starting", "[worker]") {
  core::Metrics metrics;
  worker::HandlerRegistry handlers;
  worker::WorkerOptions options;
  options.worker_id = "not-yet";
  worker::Worker w(options, handlers, &metrics);
  const auto report = w.Health();
  CHECK(report.healthy);
  CHECK(nlohmann::json::parse(report.json)["status"] == "starting");
}

TEST_CASE("a reaper whose loop has not started yet is alive and says it is starting", "[worker]") {
  core::Metrics metrics;
  reaper::ReaperOptions options;
  options.reaper_id = "not-yet";
  reaper::ReaperService r(options, &metrics);
  const auto report = r.Health();
  CHECK(report.healthy);
  CHECK(nlohmann::json::parse(report.json)["status"] == "starting");
}

}  // namespace jobqueue::testing
