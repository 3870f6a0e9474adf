#pragma once
// OpsServer: the small HTTP endpoint every long-running binary exposes for
// Kubernetes and Prometheus: GET /health (the liveness probe), GET /ready
// (the readiness probe) and GET /metrics (the registry's text format).
// Anything else is 404. Owned by main; Stop() or the
// destructor shuts it down.
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
