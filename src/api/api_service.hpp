#pragma once
// ApiService: what each route does, independent of the HTTP library. The
// HTTP layer (api_server.cpp) copies a request into an Exchange and calls
// Handle(); the answer comes back through Exchange::Reply, on the calling
// thread for what needs no database and on a DbWorkQueue thread otherwise.
// Every request is answered exactly once, counted in the metrics and logged
// in one access-log line. Thread-safe; owned by ApiServer.
#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/api_config.hpp"
#include "api/dashboard_routes.hpp"
#include "api/db_work_queue.hpp"
#include "api/image_routes.hpp"
#include "api/router.hpp"
#include "core/connection_pool.hpp"
#include "core/job.hpp"

namespace jobqueue::core {
class Metrics;
}

namespace jobqueue::api {

struct ReplyHeader {
  std::string name;
  std::string value;
};

// One request in flight: what it asked, copied out of the HTTP library's
// buffers (which are reused as soon as the library's callback returns), and
// the way to answer it from any thread.
class Exchange {
 public:
  virtual ~Exchange() = default;

  // The request, filled by the HTTP layer.
  std::string method;                                       // "GET"
  std::string path;                                         // "/v1/jobs/12", no query
  std::vector<std::pair<std::string, std::string>> query;   // raw, still percent-encoded
  std::optional<std::string> content_type;
  std::optional<std::string> authorization;                 // never logged
  std::optional<std::string> if_none_match;                 // conditional GET of an image
  std::string body;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  // Filled while handling, for the access log and the metrics.
  std::string route = "unmatched";    // the route template; never the raw path
  std::optional<core::JobId> job_id;

  // Answers; any later call is ignored. Never throws.
  void Reply(int status, const std::string& body, const std::vector<ReplyHeader>& headers = {},
             const std::string& content_type = "application/json");
  void ReplyJson(int status, const nlohmann::ordered_json& body, const std::vector<ReplyHeader>& headers = {});
  // Answers with the error an exception maps to (api_error.hpp).
  void Fail(const std::exception_ptr& error);

  // Called once the answer is out (metrics, access log).
  std::function<void(const Exchange&, int status)> on_reply;

 protected:
  // Puts the answer on the wire; may throw (the peer left).
  virtual void Send(int status, const std::string& body, const std::string& content_type,
                    const std::vector<ReplyHeader>& headers) = 0;

 private:
  std::atomic<bool> replied_{false};
};

class ApiService {
 public:
  // `metrics` must outlive the service.
  ApiService(ApiConfig config, core::Metrics& metrics);
  ~ApiService();
  ApiService(const ApiService&) = delete;
  ApiService& operator=(const ApiService&) = delete;

  // Handles one request. Never throws; the answer may come later.
  void Handle(const std::shared_ptr<Exchange>& ex);
  // Refuses new database work, finishes queued work. Idempotent.
  void Stop();
  const ApiConfig& config() const { return config_; }

 private:
  void Route(const std::shared_ptr<Exchange>& ex);
  void CheckAuthorization(const Exchange& ex) const;
  void Record(const Exchange& ex, int status);

  void Ready(const std::shared_ptr<Exchange>& ex);
  void Metrics(const std::shared_ptr<Exchange>& ex);
  void SubmitJob(const std::shared_ptr<Exchange>& ex);
  void SubmitBatch(const std::shared_ptr<Exchange>& ex);
  void ListJobs(const std::shared_ptr<Exchange>& ex);
  void GetJob(const std::shared_ptr<Exchange>& ex, core::JobId id);
  void Transition(const std::shared_ptr<Exchange>& ex, core::JobId id, bool cancel);
  void ListQueues(const std::shared_ptr<Exchange>& ex);

  // Submits database work that only reads: retried once when the session
  // it got turns out broken (the database restarted since its last use).
  void SubmitRead(const std::shared_ptr<Exchange>& ex, std::function<void(core::pg::Connection&)> work);
  // Reads job_queue_depth into the gauges.
  void RefreshDepth(core::pg::Connection& conn);

  const ApiConfig config_;
  core::Metrics& metrics_;
  const Router router_;
  const int schema_version_;  // the migration this binary expects
  core::ConnectionPool pool_;
  DbWorkQueue work_;
  ImageRoutes images_;  // after work_: stopped before it, destroyed before it
  DashboardRoutes dashboard_;

  std::mutex depth_mutex_;
  std::chrono::steady_clock::time_point depth_read_at_{};
  bool depth_refreshing_ = false;
  std::set<std::string> depth_queues_;  // queues given a gauge so far
};

}  // namespace jobqueue::api
