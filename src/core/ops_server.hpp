#pragma once
// OpsServer: the small HTTP endpoint every long-running binary exposes for
// Kubernetes and Prometheus: GET /health (the liveness probe), GET /ready
// (the readiness probe) and GET /metrics (the registry's text format).
// Anything else is 404. Owned by main; Stop() or the
// destructor shuts it down.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace Pistache::Http {
class Endpoint;
}

namespace jobqueue::core {
class Metrics;

struct HealthReport {
  bool healthy = true;
  std::string json;  // body, a JSON object
};

// A loop's sign of life for /health: the loop marks each turn, a probe asks
// how long ago the last mark was. Before the first mark the loop has not
// begun (a probe can come between the schema gate opening and the loop's
// start): that is starting, not stuck. Any thread.
class LoopTick {
 public:
  using Clock = std::chrono::steady_clock;
  void Mark(Clock::time_point now = Clock::now()) { ns_ = now.time_since_epoch().count(); }
  bool Started() const { return ns_.load() != 0; }
  // Seconds since the last mark; 0 before the first.
  double SecondsIdle() const {
    const auto ns = ns_.load();
    if (ns == 0) return 0;
    return std::chrono::duration<double>(Clock::now() - Clock::time_point(Clock::duration(ns))).count();
  }

 private:
  std::atomic<std::int64_t> ns_{0};
};

class OpsServer {
 public:
  // `metrics` and the callbacks must outlive the server; each is called on
  // the server's thread for each /health or /ready request.
  OpsServer(const Metrics& metrics, std::function<HealthReport()> health, std::function<HealthReport()> ready);
  ~OpsServer();
  OpsServer(const OpsServer&) = delete;
  OpsServer& operator=(const OpsServer&) = delete;

  // Listens on 0.0.0.0:port (0: any free port) and serves on a background
  // thread. Throws ConfigError when the port cannot be bound.
  void Start(int port);
  void Stop();
  int port() const { return port_; }

 private:
  const Metrics& metrics_;
  std::function<HealthReport()> health_;
  std::function<HealthReport()> ready_;
  std::unique_ptr<Pistache::Http::Endpoint> endpoint_;
  int port_ = 0;
};

}  // namespace jobqueue::core
