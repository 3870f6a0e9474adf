#pragma once
// Turning request bytes into core requests, refusing anything invalid with
// an InvalidArgument that names the field (or HttpError for 415), so that
// nothing invalid reaches the database. Pure functions: no I/O, no state.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/job.hpp"
#include "core/job_listing.hpp"

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

// The {id} of a route: a positive 64-bit integer in decimal.
core::JobId ParseJobId(const std::string& text);

// A `next` cursor as text, and back (ParseCursor throws InvalidArgument
// naming `after`). The cursor is opaque to clients.
std::string FormatCursor(core::JobId id);
core::JobId ParseCursor(const std::string& text);

// True for an RFC 3339 date-time with an offset: 2026-11-23T15:35:01Z,
// 2026-11-23t15:35:01.5+01:00, 2026-11-23 15:35:01-07:00 (years 0001-9999).
bool IsRfc3339(const std::string& text);

// Percent-decodes a URL query component ('+' is a space). Throws
// InvalidArgument naming `field` for a malformed escape.
std::string UrlDecode(const std::string& text, const std::string& field);

}  // namespace jobqueue::api
