#pragma once
// ApiServer: jobqueue-api's HTTP server. Serves the routes of api/router.hpp
// over Pistache on `config.threads` threads, runs their database work on a
// DbWorkQueue over a ConnectionPool of `config.db_pool_size` sessions,
// answers errors in the JSON shape of api/api_error.hpp, counts every request
// in the given Metrics and logs one line per request.
//
// The database may be down at start and may go away at any time: /health
// stays 200, /ready and every route that needs the database answer 503, and
// the sessions reconnect by themselves when it is back.
//
// Owned by main (or a test); Stop() or the destructor finishes the requests
// in flight and stops serving. `metrics` must outlive the server.
#include <memory>

#include "api/api_config.hpp"

namespace jobqueue::core {
class Metrics;
}

namespace jobqueue::api {

class ApiService;

class ApiServer {
 public:
  ApiServer(ApiConfig config, core::Metrics& metrics);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds config.bind_address:config.port (0: any free port) and serves on
  // background threads. Throws ConfigError naming API_PORT when it cannot.
  void Start();
  // Refuses new database work (503), finishes what is queued, stops serving.
  void Stop();
  // The port it listens on (after Start).
  int port() const { return port_; }

 private:
  struct Http;
  std::shared_ptr<ApiService> service_;
  std::unique_ptr<Http> http_;
  int port_ = 0;
};

}  // namespace jobqueue::api
