#include "core/queue.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <tuple>
#include <limits>
#include <unordered_set>

#include "core/errors.hpp"
#include "core/job_listing.hpp"
#include "core/metrics.hpp"
#include "core/pg/params.hpp"

namespace jobqueue::core {
namespace {

using pg::TextArray;

constexpr std::size_t kMaxNameBytes = 128;
constexpr std::size_t kMaxKeyBytes = 512;

// The ids and the tokens of `leases` as the bigint[] and uuid[] parameters
// of the fenced statements, in binary (see pg::UuidArray).
pqxx::binarystring IdArray(const std::vector<Lease>& leases) {
  std::vector<std::int64_t> ids;
  ids.reserve(leases.size());
  for (const auto& lease : leases) ids.push_back(lease.job_id);
  return pg::BigintArray(ids);
}

pqxx::binarystring TokenArray(const std::vector<Lease>& leases) {
  std::vector<std::string> tokens;
  tokens.reserve(leases.size());
  for (const auto& lease : leases) tokens.push_back(lease.token);
  return pg::UuidArray(tokens, "lease token", "lease_token");
}

using pg::DumpJson;
using pg::OrNull;

void ValidateName(const std::string& value, const char* field, std::size_t max_bytes) {
  if (value.empty()) throw InvalidArgument(std::string(field) + ": must not be empty", field);
  if (value.size() > max_bytes) {
    throw InvalidArgument(std::string(field) + ": longer than " + std::to_string(max_bytes) + " bytes",
                          field);
  }
  if (!IsStorableText(value)) {
    throw InvalidArgument(std::string(field) + ": must be valid UTF-8 without NUL bytes", field);
  }
}

ClaimedJob ParseClaimedRow(const pqxx::row& row) {
  ClaimedJob job;
  job.lease.job_id = row["id"].as<JobId>();
  job.lease.token = row["lease_token"].as<std::string>();
  job.queue = row["queue"].as<std::string>();
  job.kind = row["kind"].as<std::string>();
  job.payload = nlohmann::json::parse(row["payload"].c_str());
  job.priority = row["priority"].as<int>();
  job.attempt = row["attempts"].as<int>();
  job.max_attempts = row["max_attempts"].as<int>();
  job.lease_expires_at = row["lease_expires_at"].as<std::string>();
  return job;
}

// The claimed rows of a claim statement in claim order (priority, run_at,
// id). The statements leave the sorting to us: sorting their result was a
// tenth of the server's work per job (bench/README.md, "Instructions per
// job"). run_at comes as seconds since the epoch (float8: exact to the
// microsecond for centuries, and -Infinity sorts first as in SQL).
template <typename Rows>
std::vector<ClaimedJob> ClaimedInOrder(const Rows& rows) {
  struct Numbered {
    int priority;
    double run_at;
    JobId id;
    ClaimedJob job;
  };
  std::vector<Numbered> numbered;
  for (const auto& row : rows) {
    auto job = ParseClaimedRow(row);
    const double run_at = std::strtod(row["run_at_epoch"].c_str(), nullptr);
    numbered.push_back({job.priority, run_at, job.lease.job_id, std::move(job)});
  }
  std::sort(numbered.begin(), numbered.end(), [](const Numbered& a, const Numbered& b) {
    return std::tie(a.priority, a.run_at, a.id) < std::tie(b.priority, b.run_at, b.id);
  });
  std::vector<ClaimedJob> jobs;
  jobs.reserve(numbered.size());
  for (auto& item : numbered) jobs.push_back(std::move(item.job));
  return jobs;
}

void ValidateLeases(const std::vector<Lease>& leases) {
  for (const auto& lease : leases) {
    if (!IsStorableText(lease.token) || lease.token.empty()) {
      throw InvalidArgument("lease token: malformed", "lease_token");
    }
  }
}

// Checks the leases of a completion and its results (one per lease, or
// none); returns the results as the statements take them (NULL: none).
std::optional<std::string> CompletionResults(const std::vector<Lease>& leases,
                                             const std::vector<nlohmann::json>& results) {
  if (!results.empty() && results.size() != leases.size()) {
    throw InvalidArgument("results: one per lease, or none", "results");
  }
  ValidateLeases(leases);
  if (results.empty()) return std::nullopt;
  return DumpJson(nlohmann::json(results), "result");
}

// For each lease in order: kDone when its id is among `written`.
std::vector<WriteResult> WriteResults(const std::vector<Lease>& leases, const std::unordered_set<JobId>& written) {
  std::vector<WriteResult> out;
  out.reserve(leases.size());
  for (const auto& lease : leases) {
    out.push_back(written.count(lease.job_id) ? WriteResult::kDone : WriteResult::kLeaseLost);
  }
  return out;
}

// `min_limit`: 1 for a claim, 0 when the claim rides along a completion.
void ValidateClaimRequest(const ClaimRequest& request, int min_limit) {
  if (request.queues.empty()) throw InvalidArgument("queues: at least one queue", "queues");
  for (const auto& q : request.queues) ValidateName(q, "queues", kMaxNameBytes);
  if (request.limit < min_limit) {
    throw InvalidArgument(min_limit > 0 ? "limit: must be at least 1" : "limit: must not be negative", "limit");
  }
  if (!(request.lease_seconds > 0)) throw InvalidArgument("lease_seconds: must be positive", "lease_seconds");
  ValidateName(request.worker_id, "worker_id", 256);
}

void RecordClaim(Metrics* metrics, std::chrono::steady_clock::time_point started,
                 const std::vector<ClaimedJob>& jobs) {
  if (!metrics) return;
  metrics->ClaimLatency(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  for (const auto& job : jobs) metrics->LeasesAcquired(job.queue, 1);
}

}  // namespace

// Every string and key storable: valid UTF-8 (else dump() throws later) and
// no U+0000, which PostgreSQL's jsonb refuses.
bool IsStorableJson(const nlohmann::json& value) {
  if (value.is_string()) return IsStorableText(value.get_ref<const std::string&>());
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      if (!IsStorableText(key) || !IsStorableJson(item)) return false;
    }
  }
  if (value.is_array()) {
    for (const auto& item : value) {
      if (!IsStorableJson(item)) return false;
    }
  }
  return true;
}

bool IsStorableText(const std::string& text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    unsigned int cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += len;
  }
  return true;
}

void ValidateNewJob(const NewJob& job) {
  ValidateName(job.kind, "kind", kMaxNameBytes);
  ValidateName(job.queue, "queue", kMaxNameBytes);
  if (job.idempotency_key) ValidateName(*job.idempotency_key, "idempotency_key", kMaxKeyBytes);
  if (job.run_at) ValidateName(*job.run_at, "run_at", 64);
  if (job.priority < std::numeric_limits<std::int16_t>::min() ||
      job.priority > std::numeric_limits<std::int16_t>::max()) {
    throw InvalidArgument("priority: must be between -32768 and 32767", "priority");
  }
  if (job.max_attempts < 1 || job.max_attempts > 1000) {
    throw InvalidArgument("max_attempts: must be between 1 and 1000", "max_attempts");
  }
  // A walk, not a trial dump: the payload is serialised once, by the caller.
  if (!IsStorableJson(job.payload)) {
    throw InvalidArgument("payload: strings and keys must be valid UTF-8 without U+0000", "payload");
  }
}

Queue::Queue(pg::Connection& conn, Metrics* metrics) : conn_(conn), metrics_(metrics) {}

EnqueueResult Queue::Enqueue(const NewJob& job) {
  ValidateNewJob(job);
  const auto rows = conn_.Exec("enqueue_job", job.kind, DumpJson(job.payload, "payload"), job.queue,
                               job.priority, OrNull(job.run_at), job.max_attempts,
                               OrNull(job.idempotency_key));
  EnqueueResult result{rows[0][0].as<JobId>(), rows[0][1].as<bool>()};
  if (metrics_ && result.created) metrics_->JobCreated(job.queue, job.kind);
  return result;
}

std::vector<EnqueueResult> Queue::EnqueueMany(const std::vector<NewJob>& jobs) {
  if (jobs.empty()) return {};
  auto docs = nlohmann::json::array();
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const auto& job = jobs[i];
    try {
      ValidateNewJob(job);
    } catch (const InvalidArgument& e) {
      const std::string field = "jobs[" + std::to_string(i) + "]." + e.field();
      throw InvalidArgument(field + ": " + e.what(), field);
    }
    nlohmann::json doc = {{"kind", job.kind},          {"payload", job.payload},
                          {"queue", job.queue},        {"priority", job.priority},
                          {"max_attempts", job.max_attempts}};
    if (job.run_at) doc["run_at"] = *job.run_at;
    if (job.idempotency_key) doc["idempotency_key"] = *job.idempotency_key;
    docs.push_back(std::move(doc));
  }
  const std::string input = DumpJson(docs, "payload");
  std::vector<EnqueueResult> results(jobs.size());
  conn_.InTransaction([&](pqxx::work& tx) {
    const auto rows = tx.exec_prepared("enqueue_jobs", input);
    for (const auto& row : rows) {
      const auto index = row["ord"].as<std::size_t>() - 1;
      results[index].created = row["created"].as<bool>();
      if (results[index].created) {
        results[index].id = row["id"].as<JobId>();
      } else {
        // The key existed before, or earlier in this batch: the row holding
        // it is visible to this new statement, even if committed meanwhile.
        const auto existing = tx.exec_prepared("find_by_idempotency_key", row["queue"].c_str(),
                                               row["idempotency_key"].c_str());
        if (existing.empty()) throw Transient("idempotency key vanished while enqueueing; retry");
        results[index].id = existing[0][0].as<JobId>();
      }
    }
    return rows;
  });
  if (metrics_) {
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      if (results[i].created) metrics_->JobCreated(jobs[i].queue, jobs[i].kind);
    }
  }
  return results;
}

std::vector<ClaimedJob> Queue::Claim(const ClaimRequest& request) {
  ValidateClaimRequest(request, 1);
  const auto started = std::chrono::steady_clock::now();
  const auto rows = conn_.Exec("claim_jobs", TextArray(request.queues), request.limit,
                               request.worker_id, request.lease_seconds, OrNull(request.now));
  auto jobs = ClaimedInOrder(rows);
  RecordClaim(metrics_, started, jobs);
  return jobs;
}

std::vector<Lease> Queue::Heartbeat(const std::vector<Lease>& leases, double lease_seconds) {
  if (leases.empty()) return {};
  if (!(lease_seconds > 0)) throw InvalidArgument("lease_seconds: must be positive", "lease_seconds");
  ValidateLeases(leases);
  const auto rows = conn_.Exec("heartbeat_jobs", IdArray(leases), TokenArray(leases),
                               lease_seconds);
  std::unordered_set<JobId> extended;
  for (const auto& row : rows) extended.insert(row[0].as<JobId>());
  std::vector<Lease> lost;
  for (const auto& lease : leases) {
    if (!extended.count(lease.job_id)) lost.push_back(lease);
  }
  return lost;
}

WriteResult Queue::Complete(const Lease& lease, const nlohmann::json& result) {
  return CompleteMany({lease}, {result})[0];
}

std::vector<WriteResult> Queue::CompleteMany(const std::vector<Lease>& leases,
                                             const std::vector<nlohmann::json>& results) {
  if (leases.empty()) return {};
  const auto results_json = CompletionResults(leases, results);
  const auto rows = conn_.Exec("complete_jobs", IdArray(leases), TokenArray(leases),
                               OrNull(results_json), on_success_ == OnSuccess::kKeep);
  std::unordered_set<JobId> done;
  for (const auto& row : rows) done.insert(row[0].as<JobId>());
  return WriteResults(leases, done);
}

CompleteAndClaimResult Queue::CompleteAndClaim(const std::vector<Lease>& done,
                                              const std::vector<nlohmann::json>& results,
                                              const ClaimRequest& request) {
  const auto results_json = CompletionResults(done, results);
  ValidateClaimRequest(request, 0);
  const auto started = std::chrono::steady_clock::now();
  const auto rows = conn_.Exec("complete_and_claim_jobs", IdArray(done), TokenArray(done),
                               OrNull(results_json), request.limit, TextArray(request.queues),
                               request.worker_id, request.lease_seconds,
                               on_success_ == OnSuccess::kKeep);
  CompleteAndClaimResult out;
  std::unordered_set<JobId> completed;
  std::vector<pqxx::row> claimed;
  for (const auto& row : rows) {
    if (row["completed"].as<bool>()) {
      completed.insert(row["id"].as<JobId>());
    } else {
      claimed.push_back(row);
    }
  }
  out.claimed = ClaimedInOrder(claimed);
  out.completed = WriteResults(done, completed);
  if (request.limit > 0) RecordClaim(metrics_, started, out.claimed);
  return out;
}

std::vector<JobId> Queue::Release(const std::vector<Lease>& leases) {
  if (leases.empty()) return {};
  ValidateLeases(leases);
  const auto rows = conn_.Exec("release_jobs", IdArray(leases), TokenArray(leases));
  std::vector<JobId> released;
  for (const auto& row : rows) released.push_back(row[0].as<JobId>());
  return released;
}

FailResult Queue::Fail(const Lease& lease, const std::string& error, bool permanent) {
  ValidateLeases({lease});
  // Errors come from handlers and may hold anything: store a clean copy.
  std::string clean;
  clean.reserve(error.size());
  for (char c : error) clean += (c == '\0') ? '?' : c;
  if (!IsStorableText(clean)) {
    clean = nlohmann::json(clean).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  }
  const auto rows = conn_.Exec("fail_job", lease.job_id, lease.token, clean, permanent);
  FailResult result;
  if (rows.empty()) {
    result.write = WriteResult::kLeaseLost;
    return result;
  }
  result.new_state = ParseJobState(rows[0]["state"].as<std::string>());
  result.run_at = rows[0]["run_at"].as<std::string>();
  return result;
}

namespace {

// Maps cancel_job / retry_job's (prior_state, changed) row to an outcome.
void CheckTransition(const pqxx::result& rows, JobId id, const char* verb) {
  const auto& row = rows[0];
  if (row["prior_state"].is_null()) throw NotFound("job " + std::to_string(id) + " not found");
  if (!row["changed"].as<bool>()) {
    throw Conflict("job " + std::to_string(id) + " is " + row["prior_state"].as<std::string>() +
                   " and cannot be " + verb);
  }
}

}  // namespace

void Queue::Cancel(JobId id) { CheckTransition(conn_.Exec("cancel_job", id), id, "cancelled"); }

void Queue::Retry(JobId id) { CheckTransition(conn_.Exec("retry_job", id), id, "retried"); }

namespace {

// Runs one batch statement after another until one changes fewer than a
// batch or the limit is reached.
template <typename RunBatch>
Queue::BulkResult InBatches(std::int64_t limit, int batch, RunBatch run_batch) {
  if (limit < 1) throw InvalidArgument("limit: must be at least 1", "limit");
  Queue::BulkResult result;
  for (;;) {
    const auto want = static_cast<int>(std::min<std::int64_t>(batch, limit - result.changed));
    const auto changed = run_batch(want);
    result.changed += changed;
    if (changed < want) return result;
    if (result.changed >= limit) {
      result.more = true;
      return result;
    }
  }
}

}  // namespace

Queue::BulkResult Queue::RetryMatching(const BulkFilter& filter, std::int64_t limit, int batch) {
  if (filter.state != JobState::kDead && filter.state != JobState::kCancelled) {
    throw InvalidArgument("state: only dead or cancelled jobs can be retried", "state");
  }
  const std::string state = ToString(filter.state);
  return InBatches(limit, batch, [&](int n) {
    return conn_.Exec("retry_matching", state, pg::OrNull(filter.queue), pg::OrNull(filter.kind),
                      pg::OrNull(filter.error), n)[0]["changed"].as<std::int64_t>();
  });
}

Queue::BulkResult Queue::CancelMatching(const BulkFilter& filter, std::int64_t limit, int batch) {
  if (filter.state != JobState::kQueued && filter.state != JobState::kRunning) {
    throw InvalidArgument("state: only queued or running jobs can be cancelled", "state");
  }
  if (filter.error) throw InvalidArgument("error: cancel does not filter by error", "error");
  const std::string state = ToString(filter.state);
  return InBatches(limit, batch, [&](int n) {
    return conn_.Exec("cancel_matching", state, pg::OrNull(filter.queue), pg::OrNull(filter.kind), n)[0]["changed"]
        .as<std::int64_t>();
  });
}

std::optional<Job> Queue::Get(JobId id) {
  const auto rows = conn_.Exec("get_job", id);
  if (rows.empty()) return std::nullopt;
  return JobFromRow(rows[0]);
}

std::vector<QueueDepthRow> Queue::Depth() {
  std::vector<QueueDepthRow> out;
  for (const auto& row : conn_.Exec("queue_depth")) {
    QueueDepthRow r;
    r.queue = row["queue"].as<std::string>();
    r.state = row["state"].as<std::string>();
    r.jobs = row["jobs"].as<std::int64_t>();
    r.due = row["due"].as<std::int64_t>();
    if (!row["oldest_queued_seconds"].is_null()) {
      r.oldest_queued_seconds = row["oldest_queued_seconds"].as<double>();
    }
    r.finished_last_minute = row["finished_last_minute"].as<std::int64_t>();
    out.push_back(std::move(r));
  }
  return out;
}

const char* ToString(JobState state) {
  switch (state) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kSucceeded: return "succeeded";
    case JobState::kDead: return "dead";
    case JobState::kCancelled: return "cancelled";
  }
  return "unknown";
}

JobState ParseJobState(const std::string& text) {
  if (text == "queued") return JobState::kQueued;
  if (text == "running") return JobState::kRunning;
  if (text == "succeeded") return JobState::kSucceeded;
  if (text == "dead") return JobState::kDead;
  if (text == "cancelled") return JobState::kCancelled;
  throw InvalidArgument("state: unknown job state '" + text + "'", "state");
}

}  // namespace jobqueue::core
