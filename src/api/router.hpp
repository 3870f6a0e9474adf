#pragma once
// Router: the API's route table, matched by method and path template
// ("/v1/jobs/{id}"). Knows nothing of HTTP libraries: the server asks it
// which route a (method, path) is, and gets the route, 404 (no such path)
// or 405 (path known, method not; with the methods that are allowed).
#include <map>
#include <string>
#include <vector>

namespace jobqueue::api {

enum class RouteId {
  kHealth,
  kReady,
  kMetrics,
  kSubmitJob,
  kSubmitBatch,
  kListJobs,
  kGetJob,
  kCancelJob,
  kRetryJob,
  kListQueues,
  kSubmitImage,     // POST /v1/images
  kJobResult,       // GET /v1/jobs/{id}/result
  kJobInput,        // GET /v1/jobs/{id}/input
  kSeedSubmit,      // POST /submit (seed 000)
  kSeedUpload,      // POST /upload (seed 003)
  kSeedImage,       // GET /image/{id} (seed 003)
  kListWorkers,     // GET /v1/workers
  kThroughput,      // GET /v1/throughput
  kDeadErrors,      // GET /v1/errors
  kBulkRetry,       // POST /v1/jobs/retry
  kBulkCancel,      // POST /v1/jobs/cancel
};

struct Route {
  RouteId id;
  std::string method;    // "GET", "POST"
  std::string path;      // template; "{name}" matches one non-empty segment
};

struct RouteMatch {
  enum class Kind { kFound, kNotFound, kMethodNotAllowed } kind = Kind::kNotFound;
  const Route* route = nullptr;               // kFound; kMethodNotAllowed: one with the path
  std::map<std::string, std::string> params;  // kFound: {name} -> segment
  std::vector<std::string> allowed;           // kMethodNotAllowed
};

class Router {
 public:
  explicit Router(std::vector<Route> routes);

  // Literal segments win over parameters ("/v1/jobs/batch" is not a job id),
  // so GET /v1/jobs/batch is 405, not "no job 'batch'".
  RouteMatch Match(const std::string& method, const std::string& path) const;
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
  std::vector<std::vector<std::string>> segments_;  // per route
};

// Every route jobqueue-api serves (docs/openapi.yaml documents exactly these).
const std::vector<Route>& ApiRoutes();

}  // namespace jobqueue::api
