#include "api/dashboard_routes.hpp"

#include <functional>

#include "api/api_error.hpp"
#include "api/api_service.hpp"
#include "api/request_validation.hpp"
#include "api/ui_files.hpp"
#include "core/job_listing.hpp"
#include "core/queue.hpp"
#include "core/worker_registry.hpp"

namespace jobqueue::api {
namespace {

std::string ContentTypeOf(const std::string& path) {
  const auto dot = path.rfind('.');
  const std::string ext = dot == std::string::npos ? "" : path.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "svg") return "image/svg+xml";
  return "application/octet-stream";
}

// The page talks to this server only and runs only its own scripts; images
// it shows come as blobs fetched with the key.
const std::vector<ReplyHeader>& UiHeaders() {
  static const std::vector<ReplyHeader> headers = {
      {"Content-Security-Policy",
       "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      // Revalidated on every load (cheap: 304), so a new binary's files show at once.
      {"Cache-Control", "no-cache"},
  };
  return headers;
}

struct UiEntry {
  const UiFile* file;
  std::string etag;
};

const UiEntry* FindUiFile(const std::string& name) {
  static const std::map<std::string, UiEntry> files = [] {
    std::map<std::string, UiEntry> out;
    for (const auto& f : EmbeddedUiFiles()) {
      out[f.path] = {&f, "\"" + std::to_string(std::hash<std::string>{}(f.content)) + "\""};
    }
    return out;
  }();
  const auto it = files.find(name);
  return it == files.end() ? nullptr : &it->second;
}

}  // namespace

bool DashboardRoutes::IsUiPath(const std::string& path) {
  return path == "/" || path == "/ui" || path.rfind("/ui/", 0) == 0;
}

void DashboardRoutes::ServeUi(const std::shared_ptr<Exchange>& ex) const {
  ex->route = ex->path == "/" || ex->path == "/ui" ? ex->path : "/ui/";
  if (ex->method != "GET") {
    ex->Reply(405, ErrorBody({405, "method_not_allowed", ex->method + " is not allowed here; use GET", ""}),
              {{"Allow", "GET"}});
    return;
  }
  if (ex->path == "/" || ex->path == "/ui") {
    ex->Reply(302, "", {{"Location", "/ui/"}}, "text/plain");
    return;
  }
  const std::string name = ex->path == "/ui/" ? "index.html" : ex->path.substr(4);
  const auto* entry = FindUiFile(name);
  if (!entry) {
    throw HttpError({404, "not_found", "no such dashboard file: " + name.substr(0, 200), ""});
  }
  auto headers = UiHeaders();
  headers.push_back({"ETag", entry->etag});
  if (ex->if_none_match && *ex->if_none_match == entry->etag) {
    ex->Reply(304, "", headers, ContentTypeOf(name));
    return;
  }
  ex->Reply(200, entry->file->content, headers, ContentTypeOf(name));
}

void DashboardRoutes::ListWorkers(const std::shared_ptr<Exchange>& ex) {
  const double within = ParseWorkersQuery(DecodeQuery(ex->query));
  work_.SubmitRead(
      [ex, within](core::pg::Connection& conn) {
        auto workers = nlohmann::ordered_json::array();
        for (const auto& w : core::WorkerRegistry(conn).List(within)) {
          workers.push_back({{"id", w.id},
                             {"queues", w.queues},
                             {"concurrency", w.concurrency},
                             {"running", w.running},
                             {"started_at", w.started_at},
                             {"seen_at", w.seen_at},
                             {"stopped_at", w.stopped_at ? nlohmann::ordered_json(*w.stopped_at) : nullptr},
                             {"seen_seconds_ago", w.seen_seconds_ago}});
        }
        ex->ReplyJson(200, {{"workers", workers}});
      },
      [ex](std::exception_ptr error) { ex->Fail(error); });
}

void DashboardRoutes::Throughput(const std::shared_ptr<Exchange>& ex) {
  const auto query = ParseThroughputQuery(DecodeQuery(ex->query));
  work_.SubmitRead(
      [ex, query](core::pg::Connection& conn) {
        auto buckets = nlohmann::ordered_json::array();
        for (const auto& b : core::JobListing(conn).Throughput(query.seconds, query.queue)) {
          buckets.push_back({{"at", b.at}, {"succeeded", b.succeeded}, {"dead", b.dead}, {"cancelled", b.cancelled}});
        }
        ex->ReplyJson(200, {{"step_seconds", 10}, {"seconds", query.seconds}, {"buckets", buckets}});
      },
      [ex](std::exception_ptr error) { ex->Fail(error); });
}

void DashboardRoutes::DeadErrors(const std::shared_ptr<Exchange>& ex) {
  const auto query = ParseErrorsQuery(DecodeQuery(ex->query));
  work_.SubmitRead(
      [ex, query](core::pg::Connection& conn) {
        const auto found = core::JobListing(conn).DeadErrors(query.queue, query.kind);
        auto groups = nlohmann::ordered_json::array();
        for (const auto& g : found.groups) {
          groups.push_back({{"error", g.error},
                            {"jobs", g.jobs},
                            {"kinds", g.kinds},
                            {"queues", g.queues},
                            {"latest_id", g.latest_id},
                            {"latest_finished_at", g.latest_finished_at}});
        }
        ex->ReplyJson(200, {{"groups", groups}, {"scanned", found.scanned}, {"total", found.total}, {"complete", found.complete}});
      },
      [ex](std::exception_ptr error) { ex->Fail(error); });
}

void DashboardRoutes::Bulk(const std::shared_ptr<Exchange>& ex, bool retry) {
  RequireJsonContentType(ex->content_type);
  const auto request = ParseBulkRequest(ParseJsonBody(ex->body), retry);
  work_.Submit(
      [ex, request, retry](core::pg::Connection& conn) {
        core::Queue queue(conn);
        const auto result = retry ? queue.RetryMatching(request.filter, request.limit)
                                  : queue.CancelMatching(request.filter, request.limit);
        ex->ReplyJson(200, {{"changed", result.changed}, {"more", result.more}});
      },
      [ex](std::exception_ptr error) { ex->Fail(error); });
}

}  // namespace jobqueue::api
