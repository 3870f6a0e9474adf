#include "api/router.hpp"

#include <algorithm>

namespace jobqueue::api {
namespace {

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> out;
  if (path.empty() || path[0] != '/') return {"\x01"};  // matches nothing
  std::size_t start = 1;
  while (true) {
    const auto slash = path.find('/', start);
    out.push_back(path.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

bool IsParam(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

Router::Router(std::vector<Route> routes) : routes_(std::move(routes)) {
  for (const auto& route : routes_) segments_.push_back(Split(route.path));
}

RouteMatch Router::Match(const std::string& method, const std::string& path) const {
  const auto parts = Split(path);
  // Routes whose template matches the path, with how many parameters they
  // needed; only the most literal ones count.
  int best_params = -1;
  std::vector<std::size_t> candidates;
  for (std::size_t r = 0; r < routes_.size(); ++r) {
    const auto& tmpl = segments_[r];
    if (tmpl.size() != parts.size()) continue;
    int params = 0;
    bool ok = true;
    for (std::size_t i = 0; i < parts.size() && ok; ++i) {
      if (IsParam(tmpl[i])) {
        ok = !parts[i].empty();
        ++params;
      } else {
        ok = tmpl[i] == parts[i];
      }
    }
    if (!ok) continue;
    if (best_params < 0 || params < best_params) {
      best_params = params;
      candidates.clear();
    }
    if (params == best_params) candidates.push_back(r);
  }
  RouteMatch match;
  if (candidates.empty()) return match;
  for (std::size_t r : candidates) {
    if (routes_[r].method != method) continue;
    match.kind = RouteMatch::Kind::kFound;
    match.route = &routes_[r];
    const auto& tmpl = segments_[r];
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (IsParam(tmpl[i])) match.params[tmpl[i].substr(1, tmpl[i].size() - 2)] = parts[i];
    }
    return match;
  }
  match.kind = RouteMatch::Kind::kMethodNotAllowed;
  match.route = &routes_[candidates.front()];
  for (std::size_t r : candidates) match.allowed.push_back(routes_[r].method);
  std::sort(match.allowed.begin(), match.allowed.end());
  match.allowed.erase(std::unique(match.allowed.begin(), match.allowed.end()), match.allowed.end());
  return match;
}

const std::vector<Route>& ApiRoutes() {
  static const std::vector<Route> kRoutes = {
      {RouteId::kHealth, "GET", "/health"},
      {RouteId::kReady, "GET", "/ready"},
      {RouteId::kMetrics, "GET", "/metrics"},
      {RouteId::kSubmitJob, "POST", "/v1/jobs"},
      {RouteId::kListJobs, "GET", "/v1/jobs"},
      {RouteId::kSubmitBatch, "POST", "/v1/jobs/batch"},
      {RouteId::kGetJob, "GET", "/v1/jobs/{id}"},
      {RouteId::kCancelJob, "POST", "/v1/jobs/{id}/cancel"},
      {RouteId::kRetryJob, "POST", "/v1/jobs/{id}/retry"},
      {RouteId::kListQueues, "GET", "/v1/queues"},
      {RouteId::kSubmitImage, "POST", "/v1/images"},
      {RouteId::kJobResult, "GET", "/v1/jobs/{id}/result"},
      {RouteId::kJobInput, "GET", "/v1/jobs/{id}/input"},
      {RouteId::kSeedSubmit, "POST", "/submit"},
      {RouteId::kSeedUpload, "POST", "/upload"},
      {RouteId::kSeedImage, "GET", "/image/{id}"},
      {RouteId::kListWorkers, "GET", "/v1/workers"},
      {RouteId::kThroughput, "GET", "/v1/throughput"},
      {RouteId::kDeadErrors, "GET", "/v1/errors"},
      {RouteId::kBulkRetry, "POST", "/v1/jobs/retry"},
      {RouteId::kBulkCancel, "POST", "/v1/jobs/cancel"},
  };
  return kRoutes;
}

}  // namespace jobqueue::api
