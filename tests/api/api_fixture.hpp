#pragma once
// ApiFixture: a real ApiServer on 127.0.0.1 (a free port) in this process,
// over a fresh migrated TestDatabase, with helpers that speak JSON to it.
// Access logging is off and the log level is warn unless a test asks.
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "api/api_config.hpp"
#include "api/api_server.hpp"
#include "api/http_client.hpp"
#include "core/metrics.hpp"
#include "support/pg_fixture.hpp"

namespace jobqueue::testing {

class ApiFixture {
 public:
  // `adjust` may change the configuration before the server starts.
  explicit ApiFixture(const std::function<void(api::ApiConfig&)>& adjust = {});
  ~ApiFixture();

  int port() const { return server_->port(); }
  TestDatabase& db() { return db_; }
  core::Metrics& metrics() { return metrics_; }
  const api::ApiConfig& config() const { return config_; }

  HttpResponse Get(const std::string& target, const Headers& headers = {}) {
    return Request(port(), "GET", target, "", WithAuth(headers));
  }
  HttpResponse Post(const std::string& target, const nlohmann::json& body, const Headers& headers = {}) {
    return Request(port(), "POST", target, body.dump(), WithAuth(headers));
  }
  HttpResponse PostText(const std::string& target, const std::string& body, const Headers& headers = {}) {
    return Request(port(), "POST", target, body, WithAuth(headers));
  }
  long long JobCount() { return db_.Scalar<long long>("SELECT count(*) FROM jobqueue.jobs"); }

  // Sent with every request from the helpers when set.
  std::string bearer;

 private:
  Headers WithAuth(Headers headers) const {
    if (!bearer.empty()) headers.emplace_back("Authorization", "Bearer " + bearer);
    return headers;
  }

  TestDatabase db_;
  core::Metrics metrics_;
  api::ApiConfig config_;
  std::unique_ptr<api::ApiServer> server_;
};

}  // namespace jobqueue::testing
