#include "api/api_service.hpp"

#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>

#include "api/api_error.hpp"
#include "api/job_json.hpp"
#include "api/request_validation.hpp"
#include "core/errors.hpp"
#include "core/job_listing.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/migrator.hpp"
#include "core/queue.hpp"

namespace jobqueue::api {
namespace {

using Clock = std::chrono::steady_clock;
using ExchangePtr = std::shared_ptr<Exchange>;

// A page of GET /v1/jobs stops growing past this many bytes of JSON (its
// `next` cursor then continues where it stopped), so a page of large
// payloads stays a bounded answer.
constexpr std::size_t kMaxPageBytes = 16u << 20;

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// Compares every byte of both, whatever differs first, so the time taken
// tells nothing about how much of a guess was right.
bool ConstantTimeEquals(const std::string& given, const std::string& expected) {
  const std::size_t n = std::max(given.size(), expected.size());
  volatile unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char a = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    const unsigned char b = i < expected.size() ? static_cast<unsigned char>(expected[i]) : 0;
    diff = static_cast<unsigned char>(diff | (a ^ b));
  }
  return diff == 0;
}

nlohmann::ordered_json EnqueuedJson(const EnqueueOutcome& outcome) {
  if (outcome.job) return JobJson(*outcome.job);
  return {{"id", outcome.id}};  // committed, but reading it back failed
}

// A "{1.5,30}" float8[] literal of the delays.
std::string DelayArray(const std::vector<double>& delays) {
  std::string out = "{";
  for (std::size_t i = 0; i < delays.size(); ++i) {
    if (i) out += ',';
    out += fmt::format("{:.6f}", delays[i]);
  }
  return out + "}";
}

}  // namespace

// ---------------------------------------------------------------------------
// Exchange

void Exchange::Reply(int status, const std::string& reply_body, const std::vector<ReplyHeader>& headers,
                     const std::string& type) {
  if (replied_.exchange(true)) return;
  try {
    Send(status, reply_body, type, headers);
  } catch (const std::exception& e) {
    spdlog::debug("{}", core::LogFields("answer not sent", {{"error", e.what()}}));
  } catch (...) {
  }
  if (on_reply) {
    try {
      on_reply(*this, status);
    } catch (...) {
    }
  }
}

void Exchange::ReplyJson(int status, const nlohmann::ordered_json& json, const std::vector<ReplyHeader>& headers) {
  std::string text;
  try {
    text = json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (...) {
    Fail(std::current_exception());
    return;
  }
  Reply(status, text, headers);
}

void Exchange::Fail(const std::exception_ptr& error) {
  // Every POST route writes; every other route only reads.
  const ApiError answer = ErrorFor(error, method == "POST");
  std::vector<ReplyHeader> headers;
  if (answer.status == 401) headers.push_back({"WWW-Authenticate", "Bearer"});
  Reply(answer.status, ErrorBody(answer), headers);
}

// ---------------------------------------------------------------------------
// ApiService

ApiService::ApiService(ApiConfig config, core::Metrics& metrics)
    : config_(std::move(config)),
      metrics_(metrics),
      router_(ApiRoutes()),
      schema_version_(core::Migrator().LatestVersion()),
      pool_(config_.dsn, config_.db_pool_size),
      work_(pool_, &metrics_,
            DbWorkOptions{config_.db_pool_size,
                          std::chrono::milliseconds(static_cast<long long>(config_.db_wait_seconds * 1000)),
                          10000, 128}),
      images_(config_, work_, metrics_),
      dashboard_(work_) {}

ApiService::~ApiService() { Stop(); }

void ApiService::Stop() {
  images_.Stop();  // answers waiting uploads while the work queue still runs
  work_.Stop();
}

void ApiService::Handle(const ExchangePtr& ex) {
  ex->on_reply = [this](const Exchange& e, int status) { Record(e, status); };
  try {
    Route(ex);
  } catch (...) {
    ex->Fail(std::current_exception());
  }
}

void ApiService::Record(const Exchange& ex, int status) {
  const double seconds = std::chrono::duration<double>(Clock::now() - ex.started).count();
  metrics_.ApiRequest(ex.method, ex.route, status, seconds);
  if (!config_.access_log) return;
  nlohmann::json fields = {{"method", ex.method},
                           {"route", ex.route},
                           {"status", status},
                           {"duration_ms", std::round(seconds * 1e6) / 1e3}};
  if (ex.job_id) fields["job_id"] = *ex.job_id;
  spdlog::info("{}", core::LogFields("request", fields));
}

void ApiService::CheckAuthorization(const Exchange& ex) const {
  if (config_.secret_key.empty()) return;
  bool ok = false;
  if (ex.authorization) {
    const std::string value = Trim(*ex.authorization);
    const auto space = value.find(' ');
    if (space != std::string::npos && Lower(value.substr(0, space)) == "bearer") {
      ok = ConstantTimeEquals(Trim(value.substr(space + 1)), config_.secret_key);
    }
  }
  if (!ok) {
    throw HttpError({401, "unauthorized", "this route needs the header Authorization: Bearer <API_SECRET_KEY>",
                     "Authorization"});
  }
}

void ApiService::Route(const ExchangePtr& ex) {
  // The dashboard's files hold no data; the page asks for the key itself.
  if (DashboardRoutes::IsUiPath(ex->path)) return dashboard_.ServeUi(ex);
  // Every route but the probes and metrics needs the key when one is set:
  // the seeds' aliases write jobs and read images too.
  if (ex->path != "/health" && ex->path != "/ready" && ex->path != "/metrics") CheckAuthorization(*ex);
  const auto match = router_.Match(ex->method, ex->path);
  if (match.kind == RouteMatch::Kind::kNotFound) {
    throw HttpError({404, "not_found", "no such route: " + ex->method + " " + ex->path.substr(0, 200), ""});
  }
  if (match.kind == RouteMatch::Kind::kMethodNotAllowed) {
    ex->route = match.route->path;
    std::string allowed;
    for (const auto& m : match.allowed) allowed += (allowed.empty() ? "" : ", ") + m;
    ex->Reply(405,
              ErrorBody({405, "method_not_allowed", ex->method + " is not allowed here; use " + allowed, ""}),
              {{"Allow", allowed}});
    return;
  }
  ex->route = match.route->path;
  std::optional<core::JobId> id;
  if (match.params.count("id")) {
    id = ParseJobId(match.params.at("id"));
    ex->job_id = id;
  }
  switch (match.route->id) {
    case RouteId::kHealth:
      ex->ReplyJson(200, {{"status", "ok"}});
      return;
    case RouteId::kReady:
      return Ready(ex);
    case RouteId::kMetrics:
      return Metrics(ex);
    case RouteId::kSubmitJob:
      return SubmitJob(ex);
    case RouteId::kSubmitBatch:
      return SubmitBatch(ex);
    case RouteId::kListJobs:
      return ListJobs(ex);
    case RouteId::kGetJob:
      return GetJob(ex, *id);
    case RouteId::kCancelJob:
      return Transition(ex, *id, true);
    case RouteId::kRetryJob:
      return Transition(ex, *id, false);
    case RouteId::kListQueues:
      return ListQueues(ex);
    case RouteId::kSubmitImage:
      return images_.SubmitImage(ex);
    case RouteId::kJobResult:
      return images_.GetImage(ex, *id, core::BlobRole::kOutput);
    case RouteId::kJobInput:
      return images_.GetImage(ex, *id, core::BlobRole::kInput);
    case RouteId::kSeedSubmit:
      return images_.SeedSubmit(ex);
    case RouteId::kSeedUpload:
      return images_.SeedUpload(ex);
    case RouteId::kSeedImage:
      return images_.GetImage(ex, *id, core::BlobRole::kOutput);
    case RouteId::kListWorkers:
      return dashboard_.ListWorkers(ex);
    case RouteId::kThroughput:
      return dashboard_.Throughput(ex);
    case RouteId::kDeadErrors:
      return dashboard_.DeadErrors(ex);
    case RouteId::kBulkRetry:
      return dashboard_.Bulk(ex, true);
    case RouteId::kBulkCancel:
      return dashboard_.Bulk(ex, false);
  }
}

void ApiService::SubmitRead(const ExchangePtr& ex, std::function<void(core::pg::Connection&)> work) {
  work_.SubmitRead(std::move(work), [ex](std::exception_ptr error) { ex->Fail(error); });
}

void ApiService::Ready(const ExchangePtr& ex) {
  const int expected = schema_version_;
  SubmitRead(ex, [ex, expected](core::pg::Connection& conn) {
    // A database further on is fine: a release's migrations keep the
    // previous release working, so both run during a rolling update.
    const int version = core::Migrator().CurrentVersion(conn);
    if (version < expected) {
      ex->Reply(503, ErrorBody({503, "schema_mismatch",
                                "database schema is at version " + std::to_string(version) +
                                    ", this server needs " + std::to_string(expected) + " (run jobqueue migrate)",
                                ""}));
      return;
    }
    ex->ReplyJson(200, {{"status", "ready"}, {"schema_version", version}});
  });
}

void ApiService::Metrics(const ExchangePtr& ex) {
  static const std::string kType = "text/plain; version=0.0.4; charset=utf-8";
  bool refresh = false;
  {
    std::lock_guard<std::mutex> lock(depth_mutex_);
    const auto age = std::chrono::duration<double>(Clock::now() - depth_read_at_).count();
    if (!depth_refreshing_ && (age >= config_.depth_refresh_seconds || depth_read_at_ == Clock::time_point{})) {
      depth_refreshing_ = refresh = true;
    }
  }
  if (!refresh) {
    ex->Reply(200, metrics_.Serialize(), {}, kType);
    return;
  }
  auto done = [this, ex] {
    {
      std::lock_guard<std::mutex> lock(depth_mutex_);
      depth_refreshing_ = false;
      depth_read_at_ = Clock::now();  // also after a failure: no retry storm on a down database
    }
    ex->Reply(200, metrics_.Serialize(), {}, kType);
  };
  work_.Submit(
      [this, done](core::pg::Connection& conn) {
        try {
          RefreshDepth(conn);
        } catch (const std::exception& e) {
          spdlog::debug("{}", core::LogFields("job_queue_depth not refreshed", {{"error", e.what()}}));
        }
        done();
      },
      [done](std::exception_ptr) { done(); });
}

void ApiService::RefreshDepth(core::pg::Connection& conn) {
  const auto depth = core::JobListing(conn).DueDepth();
  std::lock_guard<std::mutex> lock(depth_mutex_);
  // A queue that emptied keeps its gauge, at 0, rather than vanishing.
  for (const auto& queue : depth_queues_) {
    if (!depth.count(queue)) metrics_.SetQueueDepth(queue, 0);
  }
  for (const auto& [queue, n] : depth) {
    metrics_.SetQueueDepth(queue, static_cast<double>(n));
    depth_queues_.insert(queue);
  }
}

void ApiService::SubmitJob(const ExchangePtr& ex) {
  RequireJsonContentType(ex->content_type);
  if (ex->body.size() > config_.max_body_bytes) {
    throw HttpError({413, "payload_too_large", "the request body is larger than this server accepts", "body"});
  }
  auto request = ParseJobRequest(ParseJsonBody(ex->body));
  ImageRoutes::CheckImageJob(request.job);
  ex->body.clear();
  ex->body.shrink_to_fit();
  work_.SubmitEnqueue(std::move(request), [ex](EnqueueOutcome outcome) {
    if (outcome.error) return ex->Fail(outcome.error);
    ex->job_id = outcome.id;
    ex->ReplyJson(outcome.created ? 201 : 200, EnqueuedJson(outcome),
                  {{"Location", "/v1/jobs/" + std::to_string(outcome.id)}});
  });
}

void ApiService::SubmitBatch(const ExchangePtr& ex) {
  RequireJsonContentType(ex->content_type);
  if (ex->body.size() > config_.max_body_bytes) {
    throw HttpError({413, "payload_too_large", "the request body is larger than this server accepts", "body"});
  }
  auto requests = std::make_shared<std::vector<JobRequest>>(ParseBatchRequest(ParseJsonBody(ex->body), config_.max_batch_jobs));
  for (std::size_t i = 0; i < requests->size(); ++i) {
    ImageRoutes::CheckImageJob((*requests)[i].job, "jobs[" + std::to_string(i) + "].");
  }
  ex->body.clear();
  ex->body.shrink_to_fit();
  work_.Submit(
      [this, ex, requests](core::pg::Connection& conn) {
        std::vector<core::NewJob> jobs;
        std::vector<double> delays;
        std::vector<std::size_t> delayed;
        for (std::size_t i = 0; i < requests->size(); ++i) {
          jobs.push_back((*requests)[i].job);
          if ((*requests)[i].delay_seconds) {
            delays.push_back(*(*requests)[i].delay_seconds);
            delayed.push_back(i);
          }
        }
        // Time comes from PostgreSQL: every delay is added to its now().
        if (!delayed.empty()) {
          const auto rows = conn.Exec("api_now_plus_seconds", DelayArray(delays));
          for (std::size_t k = 0; k < delayed.size(); ++k) {
            jobs[delayed[k]].run_at = rows[static_cast<int>(k)][0].as<std::string>();
          }
        }
        const auto results = core::Queue(conn, &metrics_).EnqueueMany(jobs);
        std::vector<core::JobId> ids;
        int created = 0;
        for (const auto& r : results) {
          ids.push_back(r.id);
          created += r.created ? 1 : 0;
        }
        auto out = nlohmann::ordered_json::array();
        try {
          const auto stored = core::JobListing(conn).GetMany(ids);
          for (const auto& job : stored) out.push_back(JobJson(job));
        } catch (const std::exception& e) {
          // Committed: answer with the ids rather than an error.
          spdlog::warn("{}", core::LogFields("reading enqueued jobs back failed", {{"error", e.what()}}));
          out = nlohmann::ordered_json::array();
          for (auto id : ids) out.push_back({{"id", id}});
        }
        ex->ReplyJson(201, {{"created", created}, {"jobs", out}});
      },
      [ex](std::exception_ptr error) { ex->Fail(error); });
}

void ApiService::ListJobs(const ExchangePtr& ex) {
  const auto filter = ParseListQuery(DecodeQuery(ex->query));
  SubmitRead(ex, [ex, filter](core::pg::Connection& conn) {
    const auto page = core::JobListing(conn).List(filter);
    auto jobs = nlohmann::ordered_json::array();
    std::size_t bytes = 0;
    std::optional<core::JobId> next = page.next;
    for (std::size_t i = 0; i < page.jobs.size(); ++i) {
      auto json = JobJson(page.jobs[i]);
      bytes += json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).size();
      jobs.push_back(std::move(json));
      if (bytes > kMaxPageBytes && i + 1 < page.jobs.size()) {
        next = page.jobs[i].id;
        break;
      }
    }
    ex->ReplyJson(200, {{"jobs", jobs}, {"next", next ? nlohmann::ordered_json(FormatCursor(*next)) : nullptr}});
  });
}

void ApiService::GetJob(const ExchangePtr& ex, core::JobId id) {
  SubmitRead(ex, [ex, id](core::pg::Connection& conn) {
    const auto job = core::JobListing(conn).Get(id);
    if (!job) throw NotFound("job " + std::to_string(id) + " not found");
    ex->ReplyJson(200, JobJson(*job));
  });
}

void ApiService::Transition(const ExchangePtr& ex, core::JobId id, bool cancel) {
  work_.Submit(
      [ex, id, cancel](core::pg::Connection& conn) {
        core::Queue queue(conn);
        if (cancel) {
          queue.Cancel(id);
        } else {
          queue.Retry(id);
        }
        // Done: from here on a failure must not look like the transition failed.
        std::optional<core::Job> job;
        try {
          job = core::JobListing(conn).Get(id);
        } catch (const std::exception& e) {
          spdlog::warn("{}", core::LogFields("reading a job back failed", {{"job_id", id}, {"error", e.what()}}));
        }
        if (job) return ex->ReplyJson(200, JobJson(*job));
        ex->ReplyJson(200, {{"id", id}, {"state", cancel ? "cancelled" : "queued"}});
      },
      [ex](std::exception_ptr error) { ex->Fail(error); });
}

void ApiService::ListQueues(const ExchangePtr& ex) {
  SubmitRead(ex, [ex](core::pg::Connection& conn) { ex->ReplyJson(200, QueuesJson(core::Queue(conn).Depth())); });
}

}  // namespace jobqueue::api
