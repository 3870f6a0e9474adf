#pragma once
// DashboardRoutes: the web dashboard (ui/, embedded in the binary, at /ui/)
// and the JSON routes it reads beyond jobs and queues, which any script may
// call too: GET /v1/workers, GET /v1/throughput, GET /v1/errors, and the
// bulk POST /v1/jobs/retry and /v1/jobs/cancel. Thread-safe; owned by
// ApiService, which also owns the work queue this uses.
#include <memory>
#include <string>

#include "api/db_work_queue.hpp"

namespace jobqueue::api {

class Exchange;

class DashboardRoutes {
 public:
  explicit DashboardRoutes(DbWorkQueue& work) : work_(work) {}

  // True for the paths the dashboard's files answer: "/", "/ui" and
  // "/ui/...". They need no key: they hold no data, and the page asks for
  // the key itself.
  static bool IsUiPath(const std::string& path);
  // GET of such a path: "/" and "/ui" redirect to "/ui/", "/ui/" is
  // index.html, "/ui/<file>" the file (ETag, 304); other methods 405.
  void ServeUi(const std::shared_ptr<Exchange>& ex) const;

  void ListWorkers(const std::shared_ptr<Exchange>& ex);   // GET /v1/workers
  void Throughput(const std::shared_ptr<Exchange>& ex);    // GET /v1/throughput
  void DeadErrors(const std::shared_ptr<Exchange>& ex);    // GET /v1/errors
  // POST /v1/jobs/retry (retry) and /v1/jobs/cancel: by filter, bounded.
  void Bulk(const std::shared_ptr<Exchange>& ex, bool retry);

 private:
  DbWorkQueue& work_;
};

}  // namespace jobqueue::api
