#pragma once
// Queue: every job operation of the lease protocol, one SQL statement (one
// round trip, one transaction) each unless said otherwise. Uses a Connection
// it does not own; like the Connection, one thread at a time.
#include <optional>
#include <string>
#include <vector>

#include "core/job.hpp"
#include "core/pg/connection.hpp"

namespace jobqueue::core {

class Metrics;

struct ClaimRequest {
  std::vector<std::string> queues = {"default"};  // claim from any of these
  int limit = 10;                                 // at most this many jobs (>= 1)
  std::string worker_id;                          // recorded as lease_owner
  double lease_seconds = 300;                     // lease length (> 0)
  std::optional<std::string> now;                 // tests: a timestamptz to use as now()
};

struct CompleteAndClaimResult {
  std::vector<WriteResult> completed;  // one per lease given, in order
  std::vector<ClaimedJob> claimed;     // in claim order
};

class Queue {
 public:
  // `metrics` may be null; when given it must outlive the Queue.
  explicit Queue(pg::Connection& conn, Metrics* metrics = nullptr);

  // Validates and enqueues one job. Throws InvalidArgument naming the field.
  EnqueueResult Enqueue(const NewJob& job);

  // Enqueues all jobs or none, in one statement (plus one look-up per job
  // whose idempotency key already existed). Results are in input order.
  std::vector<EnqueueResult> EnqueueMany(const std::vector<NewJob>& jobs);

  // Leases up to request.limit due jobs, in claim order. Empty when nothing
  // is due. Each job's attempt counter has already been incremented.
  std::vector<ClaimedJob> Claim(const ClaimRequest& request);

  // Extends the given leases to now() + lease_seconds. Returns the leases
  // that were lost (reclaimed, cancelled, finished): their jobs must be
  // abandoned.
  std::vector<Lease> Heartbeat(const std::vector<Lease>& leases, double lease_seconds);

  // What completing a job does to its row: kKeep marks it succeeded (with
  // its result) until the reaper prunes it; kDelete deletes it at once
  // (JOB_RETENTION_HOURS=0: no history, as graphile-worker does), which
  // writes less. Either way under the lease token's fence. Default kKeep.
  enum class OnSuccess { kKeep, kDelete };
  void set_on_success(OnSuccess on_success) { on_success_ = on_success; }

  // Completes one job with `result` (null: none). kLeaseLost: this attempt no
  // longer holds the job and nothing was written.
  WriteResult Complete(const Lease& lease, const nlohmann::json& result = nullptr);

  // Completes many jobs in one statement; results[i] belongs to leases[i]
  // (results may be empty: no results). Returns one WriteResult per lease.
  std::vector<WriteResult> CompleteMany(const std::vector<Lease>& leases,
                                        const std::vector<nlohmann::json>& results = {});

  // CompleteMany(done, results) and Claim(request) in one statement and one
  // round trip: how a busy worker hands in a batch and takes the next.
  // request.limit may be 0 (complete only); request.now is ignored.
  CompleteAndClaimResult CompleteAndClaim(const std::vector<Lease>& done,
                                          const std::vector<nlohmann::json>& results,
                                          const ClaimRequest& request);
  // Hands back leased jobs that were never started: queued again at once,
  // the claimed attempt taken back. Returns the ids released (a missing one
  // had lost its lease already).
  std::vector<JobId> Release(const std::vector<Lease>& leases);
  // Records a failed attempt: queued again after backoff, or dead when
  // `permanent` or attempts are used up.
  FailResult Fail(const Lease& lease, const std::string& error, bool permanent);

  // queued|running -> cancelled. Throws NotFound, or Conflict naming the state.
  void Cancel(JobId id);

  // dead|cancelled -> queued, due now, attempts reset. Throws NotFound/Conflict.
  void Retry(JobId id);

  // Bulk transitions by filter, for the dashboard and scripts: at most
  // `limit` jobs, in batches of `batch` (each its own short statement, so
  // no long transaction or lock); retry takes the newest first (the ones
  // the error groups are read from), cancel the oldest. `more` is set when the
  // limit stopped it with a full last batch: more jobs may match.
  struct BulkFilter {
    JobState state = JobState::kDead;  // retry: dead|cancelled; cancel: queued|running
    std::optional<std::string> queue;
    std::optional<std::string> kind;
    std::optional<std::string> error;  // retry only: the error group (JobListing::DeadErrors)
  };
  struct BulkResult {
    std::int64_t changed = 0;
    bool more = false;
  };
  BulkResult RetryMatching(const BulkFilter& filter, std::int64_t limit, int batch = 1000);
  BulkResult CancelMatching(const BulkFilter& filter, std::int64_t limit, int batch = 1000);

  std::optional<Job> Get(JobId id);

  std::vector<QueueDepthRow> Depth();

  pg::Connection& connection() const { return conn_; }

 private:
  pg::Connection& conn_;
  Metrics* metrics_;
  OnSuccess on_success_ = OnSuccess::kKeep;
};

// Throws InvalidArgument (naming the field) unless `job` is storable:
// kind and queue 1..128 bytes, key 1..512 bytes, all valid UTF-8 without NUL,
// priority a smallint, max_attempts 1..1000, payload serialisable.
void ValidateNewJob(const NewJob& job);

// True when every string and key in `value` is storable text (jsonb refuses
// U+0000; invalid UTF-8 cannot be serialised).
bool IsStorableJson(const nlohmann::json& value);
// True when `text` is valid UTF-8 with no NUL byte.
bool IsStorableText(const std::string& text);

}  // namespace jobqueue::core
