#include "core/ops_server.hpp"

#include <pistache/endpoint.h>
#include <pistache/http.h>

#include "core/errors.hpp"
#include "core/metrics.hpp"

namespace jobqueue::core {
namespace {

class OpsHandler : public Pistache::Http::Handler {
 public:
  HTTP_PROTOTYPE(OpsHandler)

  OpsHandler(const Metrics& metrics, std::function<HealthReport()> health, std::function<HealthReport()> ready)
      : metrics_(metrics), health_(std::move(health)), ready_(std::move(ready)) {}

  void onRequest(const Pistache::Http::Request& request,
                 Pistache::Http::ResponseWriter response) override {
    using Pistache::Http::Code;
    const auto json = MIME(Application, Json);
    const bool get = request.method() == Pistache::Http::Method::Get;
    const auto& path = request.resource();
    if (get && path == "/metrics") {
      response.send(Code::Ok, metrics_.Serialize(), MIME(Text, Plain));
    } else if (get && (path == "/health" || path == "/healthz" || path == "/ready" || path == "/readyz")) {
      const auto& probe = (path == "/ready" || path == "/readyz") ? ready_ : health_;
      HealthReport report;
      try {
        report = probe();
      } catch (const std::exception& e) {
        report = {false, R"({"status":"error"})"};
      }
      response.send(report.healthy ? Code::Ok : Code::Service_Unavailable, report.json, json);
    } else {
      response.send(Code::Not_Found, R"({"error":{"code":"not_found","message":"no such route"}})",
                    json);
    }
  }

 private:
  const Metrics& metrics_;
  std::function<HealthReport()> health_;
  std::function<HealthReport()> ready_;
};

}  // namespace

OpsServer::OpsServer(const Metrics& metrics, std::function<HealthReport()> health,
                     std::function<HealthReport()> ready)
    : metrics_(metrics), health_(std::move(health)), ready_(std::move(ready)) {}

OpsServer::~OpsServer() { Stop(); }

void OpsServer::Start(int port) {
  try {
    endpoint_ = std::make_unique<Pistache::Http::Endpoint>(
        Pistache::Address(Pistache::Ipv4::any(), Pistache::Port(static_cast<uint16_t>(port))));
    // One thread and small bodies: probes and scrapes only, never uploads.
    endpoint_->init(Pistache::Http::Endpoint::options()
                        .threads(1)
                        .flags(Pistache::Tcp::Options::ReuseAddr)
                        .maxRequestSize(16 * 1024));
    endpoint_->setHandler(Pistache::Http::make_handler<OpsHandler>(metrics_, health_, ready_));
    endpoint_->serveThreaded();
    port_ = static_cast<uint16_t>(endpoint_->getPort());
  } catch (const std::exception& e) {
    endpoint_.reset();
    throw ConfigError("cannot serve /health and /metrics on port " + std::to_string(port) + ": " +
                      e.what());
  }
}

void OpsServer::Stop() {
  if (endpoint_) {
    endpoint_->shutdown();
    endpoint_.reset();
  }
}

}  // namespace jobqueue::core
