// jobqueue-worker: reads its configuration from the environment, serves
// /health and /metrics, runs the Worker until SIGTERM/SIGINT has drained it.
// Exit codes: 0 drained, 1 second signal or runtime failure, 2 bad configuration.
#include <unistd.h>

#include <atomic>
#include <algorithm>
#include <cstdio>
#include <iostream>

#include <spdlog/spdlog.h>

#include "core/env.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/ops_server.hpp"
#include "core/schema_gate.hpp"
#include "core/shutdown_signals.hpp"
#include "core/worker_registry.hpp"
#include "worker/handlers.hpp"
#include "worker/image_handlers.hpp"
#include "worker/worker.hpp"

namespace {

using jobqueue::core::Env;

std::string DefaultWorkerId() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || !host[0]) return "worker-" + std::to_string(getpid());
  return std::string(host) + "-" + std::to_string(getpid());
}

struct Config {
  jobqueue::worker::WorkerOptions worker;
  jobqueue::worker::ImageHandlerOptions images;
  int metrics_port = 9090;  // WORKER_METRICS_PORT; 0: any free port
  jobqueue::core::LogConfig log;
};

Config ReadConfig(const Env& env) {
  Config c;
  auto& w = c.worker;
  w.dsn = env.String("DATABASE_URL", "");
  // The pod name on Kubernetes; recorded as lease_owner and in every log line.
  w.worker_id = env.String("WORKER_ID", env.String("HOSTNAME", DefaultWorkerId()));
  // It is the key of its row in jobqueue.workers (GET /v1/workers): a pod
  // name is at most 253 bytes.
  if (!jobqueue::core::IsValidWorkerId(w.worker_id)) {
    throw jobqueue::ConfigError("WORKER_ID (or HOSTNAME): must be 1 to 253 bytes of text, like a pod name");
  }
  w.queues = env.List("WORKER_QUEUES", {"default"});
  w.concurrency = static_cast<int>(env.Int("WORKER_CONCURRENCY", 10, 1, 1024));
  w.batch_size = static_cast<int>(env.Int("WORKER_BATCH_SIZE", 10, 1, 1000));
  w.poll_interval_seconds = env.Double("WORKER_POLL_INTERVAL_SECONDS", 1.0, 0.01, 3600);
  w.lease_seconds = env.Double("WORKER_LEASE_DURATION_SECONDS", 300, 0.5, 86400);
  // Fetch-ahead for short jobs: a job waits unstarted at most this long (1 s,
  // or a twentieth of a shorter lease's time); 0 turns it off.
  w.prefetch_max_wait_seconds =
      env.Double("WORKER_PREFETCH_MAX_WAIT_SECONDS", std::min(1.0, w.lease_seconds / 20), 0, 3600);
  if (w.prefetch_max_wait_seconds > w.lease_seconds / 10) {
    throw jobqueue::ConfigError("WORKER_PREFETCH_MAX_WAIT_SECONDS: must be at most a tenth of the lease (" +
                                std::to_string(w.lease_seconds / 10) + " s), so a job fetched ahead keeps "
                                "most of its lease for running");
  }
  // A session per batch the executors can run at once, and with fetch-ahead
  // one more, so a claim is on the wire while a fetched batch waits; at most
  // 4. Each session more costs the server CPU per job even when it brings
  // no throughput: the sessions' claims walk past each other's locked rows
  // (bench/pg_cost.sh: 14.0, 15.4-16.3 and 16.7-17.5 µs a job with one, two
  // and three sessions at concurrency 200, batch 500).
  const int lanes = (w.concurrency + w.batch_size - 1) / w.batch_size + (w.prefetch_max_wait_seconds > 0 ? 1 : 0);
  w.connections = static_cast<int>(env.Int("WORKER_CONNECTIONS", std::min(4, lanes), 1, 64));
  w.heartbeat_seconds = env.Double("WORKER_HEARTBEAT_SECONDS", w.lease_seconds / 3, 0.05, 86400);
  w.job_timeout_seconds = env.Double("WORKER_JOB_TIMEOUT_SECONDS", 300, 0.01, 7 * 86400);
  w.shutdown_grace_seconds = env.Double("WORKER_SHUTDOWN_GRACE_SECONDS", 25, 0, 3600);
  // The reaper's retention, read here too: 0 keeps no history, so a job that
  // succeeds is deleted by the statement that completes it.
  w.keep_succeeded = jobqueue::core::JobRetentionHours(env) > 0;
  c.metrics_port = static_cast<int>(env.Int("WORKER_METRICS_PORT", 9090, 0, 65535));
  auto& im = c.images;
  im.dsn = w.dsn;
  im.sessions = std::min(w.concurrency, 4);
  im.limits.max_pixels = env.Int("MAX_IMAGE_PIXELS", im.limits.max_pixels, 1, 1LL << 32);
  im.fetch.max_bytes = static_cast<std::size_t>(
      env.Int("IMAGE_FETCH_MAX_BYTES", static_cast<long long>(im.fetch.max_bytes), 1, 1LL << 32));
  im.fetch.timeout_seconds = env.Double("IMAGE_FETCH_TIMEOUT_SECONDS", im.fetch.timeout_seconds, 0.1, 3600);
  im.fetch.connect_timeout_seconds = std::min(10.0, im.fetch.timeout_seconds);
  im.fetch.allow_private = env.Bool("IMAGE_FETCH_ALLOW_PRIVATE", false);
  c.log.level = env.String("LOG_LEVEL", "info");
  c.log.format = jobqueue::core::ParseLogFormat(env.String("LOG_FORMAT", "json"));
  // libpng and OpenCV write warnings to stderr: keep the JSON lines whole.
  c.log.capture_stderr = c.log.format == jobqueue::core::LogFormat::kJson;
  c.log.component = "worker";
  return c;
}

}  // namespace

int main() {
  jobqueue::core::ShutdownSignals signals;  // first: every thread inherits the mask
  Config config;
  try {
    config = ReadConfig(Env());
    jobqueue::core::InitLogging(config.log);
  } catch (const jobqueue::ConfigError& e) {
    std::cerr << "jobqueue-worker: configuration: " << e.what() << "\n";
    return 2;
  }
  const auto& w = config.worker;
  if (w.heartbeat_seconds >= w.lease_seconds) {
    spdlog::warn("{}", jobqueue::core::LogFields(
                           "WORKER_HEARTBEAT_SECONDS is not below the lease: leases will lapse "
                           "while jobs run",
                           {{"heartbeat_seconds", w.heartbeat_seconds}, {"lease_seconds", w.lease_seconds}}));
  }

  jobqueue::core::Metrics metrics;
  jobqueue::worker::HandlerRegistry handlers;
  jobqueue::worker::RegisterBuiltinHandlers(handlers);
  jobqueue::worker::ImageHandlers image_handlers(config.images, &metrics);
  image_handlers.Register(handlers);
  // OpenCV's thread pool is process-wide and this build's TBB ignores cgroup
  // CPU limits: split the cores among the jobs that run at once.
  const int cpus = jobqueue::images::AvailableCpus();
  const int opencv_threads = jobqueue::images::OpenCvThreadsFor(cpus, w.concurrency);
  jobqueue::images::SetOpenCvThreads(opencv_threads);
  jobqueue::worker::Worker worker(w, handlers, &metrics);

  // Until the schema is there the worker waits: alive, not ready.
  jobqueue::core::SchemaGate schema(w.dsn);
  jobqueue::core::OpsServer ops(
      metrics,
      [&] { return schema.Liveness([&] { return worker.Health(); }); },
      [&] { return schema.Readiness([&] { return worker.Health(); }); });
  std::atomic<bool> stop_requested{false};
  try {
    ops.Start(config.metrics_port);
  } catch (const jobqueue::ConfigError& e) {
    std::cerr << "jobqueue-worker: WORKER_METRICS_PORT: " << e.what() << "\n";
    return 2;
  }
  signals.Start(
      [&](int sig) {
        spdlog::info("{}", jobqueue::core::LogFields("signal received; draining",
                                                     {{"worker_id", w.worker_id}, {"signal", sig}}));
        stop_requested = true;
        worker.Stop();
      },
      [&](int sig) {
        spdlog::warn("{}", jobqueue::core::LogFields("second signal; exiting now, leases will expire",
                                                     {{"worker_id", w.worker_id}, {"signal", sig}}));
        spdlog::default_logger()->flush();
        _exit(1);
      });

  spdlog::info("{}", jobqueue::core::LogFields(
                         "worker started",
                         {{"worker_id", w.worker_id}, {"queues", w.queues}, {"concurrency", w.concurrency},
                          {"batch_size", w.batch_size}, {"connections", w.connections}, {"lease_seconds", w.lease_seconds},
                          {"prefetch_max_wait_seconds", w.prefetch_max_wait_seconds},
                          {"keep_succeeded", w.keep_succeeded},
                          {"heartbeat_seconds", w.heartbeat_seconds},
                          {"poll_interval_seconds", w.poll_interval_seconds},
                          {"metrics_port", ops.port()}, {"cpus", cpus}, {"opencv_threads", opencv_threads},
                          {"max_image_pixels", config.images.limits.max_pixels},
                          {"image_fetch_allow_private", config.images.fetch.allow_private}}));
  if (!schema.Wait([&] { return stop_requested.load(); })) {
    spdlog::info("{}", jobqueue::core::LogFields("worker stopped before the schema was there",
                                                 {{"worker_id", w.worker_id}}));
    ops.Stop();
    return 0;
  }
  const bool clean = worker.Run();
  const auto stats = worker.Stats();
  spdlog::info("{}", jobqueue::core::LogFields(
                         "worker stopped",
                         {{"worker_id", w.worker_id}, {"jobs_succeeded", stats.succeeded},
                          {"jobs_failed", stats.failed}, {"leases_lost", stats.lease_lost},
                          {"jobs_released", stats.released},
                          {"first_job_started_at", stats.first_started_at}}));
  ops.Stop();
  spdlog::default_logger()->flush();
  if (!clean) _exit(0);  // a handler ignored cancellation: do not unwind under it
  return 0;
}
