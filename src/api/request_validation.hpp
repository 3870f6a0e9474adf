#pragma once
// Turning request bytes into core requests, refusing anything invalid with
// an InvalidArgument that names the field (or HttpError for 415), so that
// nothing invalid reaches the database. Pure functions: no I/O, no state.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/job.hpp"
#include "core/job_listing.hpp"
#include "core/queue.hpp"

namespace jobqueue::api {

// Deepest nesting of arrays and objects a body may have: deeper JSON could
// exhaust the stack of whatever serialises it later (nlohmann's dump,
// PostgreSQL's jsonb input).
constexpr int kMaxJsonDepth = 64;
// Largest page GET /v1/jobs returns (`limit`), and its default.
constexpr int kMaxPageSize = 500;
constexpr int kDefaultPageSize = 50;

// One job of POST /v1/jobs or of a batch.
struct JobRequest {
  core::NewJob job;
  std::optional<double> delay_seconds;  // run_at = the database's now() + this
};

// Throws HttpError 415 unless `content_type` is application/json (any
// parameters, any case). Unset: no Content-Type header.
void RequireJsonContentType(const std::optional<std::string>& content_type);

// Parses a request body as JSON. Throws InvalidArgument (field "body") for
// malformed JSON, naming the byte where it broke, or nesting deeper than
// kMaxJsonDepth.
nlohmann::json ParseJsonBody(const std::string& body);

// {kind, payload?, queue?, priority?, run_at? | delay_seconds?, max_attempts?,
// idempotency_key?}. Null counts as absent for the optional fields. Field
// names in errors are prefixed with `prefix` ("jobs[3].").
JobRequest ParseJobRequest(const nlohmann::json& body, const std::string& prefix = "");

// {jobs: [job, ...]} with 1..max_jobs jobs.
std::vector<JobRequest> ParseBatchRequest(const nlohmann::json& body, int max_jobs);

// GET /v1/jobs query: state, queue, kind, limit (1..kMaxPageSize, default
// kDefaultPageSize), after (a `next` cursor). Keys and values are already
// percent-decoded; empty values count as absent; any other key is refused.
core::JobFilter ParseListQuery(const std::map<std::string, std::string>& query);

// The dashboard's reads. Same rules as ParseListQuery: decoded keys and
// values, empty values absent, unknown keys refused.
// GET /v1/workers: within_seconds (1..86400, default 300).
double ParseWorkersQuery(const std::map<std::string, std::string>& query);
// GET /v1/throughput: seconds (10..900, default 300), queue.
struct ThroughputQuery {
  int seconds = 300;
  std::optional<std::string> queue;
};
ThroughputQuery ParseThroughputQuery(const std::map<std::string, std::string>& query);
// GET /v1/errors: queue, kind.
struct ErrorsQuery {
  std::optional<std::string> queue;
  std::optional<std::string> kind;
};
ErrorsQuery ParseErrorsQuery(const std::map<std::string, std::string>& query);

// POST /v1/jobs/retry and /v1/jobs/cancel: {state?, queue?, kind?, error?
// (retry only), limit? (1..kMaxBulkJobs, default kDefaultBulkJobs)}. state
// defaults to dead (retry) or queued (cancel); null counts as absent.
constexpr std::int64_t kDefaultBulkJobs = 10000;
constexpr std::int64_t kMaxBulkJobs = 100000;
struct BulkRequest {
  core::Queue::BulkFilter filter;
  std::int64_t limit = kDefaultBulkJobs;
};
BulkRequest ParseBulkRequest(const nlohmann::json& body, bool retry);

// The {id} of a route: a positive 64-bit integer in decimal.
core::JobId ParseJobId(const std::string& text);

// A `next` cursor as text, and back (ParseCursor throws InvalidArgument
// naming `after`). The cursor is opaque to clients.
std::string FormatCursor(core::JobId id);
core::JobId ParseCursor(const std::string& text);

// True for an RFC 3339 date-time with an offset: 2026-11-23T15:35:01Z,
// 2026-11-23t15:35:01.5+01:00, 2026-11-23 15:35:01-07:00 (years 0001-9999).
bool IsRfc3339(const std::string& text);

// A request's query, keys and values percent-decoded (the first of a
// repeated key wins). Throws InvalidArgument for a malformed escape.
std::map<std::string, std::string> DecodeQuery(const std::vector<std::pair<std::string, std::string>>& raw);

// Percent-decodes a URL query component ('+' is a space). Throws
// InvalidArgument naming `field` for a malformed escape.
std::string UrlDecode(const std::string& text, const std::string& field);

}  // namespace jobqueue::api
