#pragma once
// JobListing: the read side the REST API needs beyond Queue::Get: many jobs
// by id in one statement, a keyset-paginated page of jobs (newest first) and
// the due depth per queue for the job_queue_depth gauge. Timestamps of the
// Jobs it returns are RFC 3339 in UTC ("2026-11-23T15:35:01.123456Z").
// Uses a Connection it does not own; like the Connection, one thread at a time.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/job.hpp"
#include "core/pg/connection.hpp"

namespace jobqueue::core {

// Which jobs a page holds. Unset filters match everything.
struct JobFilter {
  std::optional<JobState> state;
  std::optional<std::string> queue;
  std::optional<std::string> kind;
  std::optional<JobId> before_id;  // only jobs with a smaller id (the cursor)
  int limit = 50;                  // 1..1000
};

struct JobPage {
  std::vector<Job> jobs;          // newest first
  std::optional<JobId> next;      // pass as before_id for the next page; unset: no more
};

// Jobs finished in one 10-second bucket (its start, RFC 3339 UTC).
struct ThroughputBucket {
  std::string at;
  std::int64_t succeeded = 0;
  std::int64_t dead = 0;
  std::int64_t cancelled = 0;
};

// Dead jobs that share an error: the first line of last_error, at most 200
// characters (what Queue::RetryMatching's error filter takes).
struct ErrorGroup {
  std::string error;
  std::int64_t jobs = 0;
  std::vector<std::string> kinds;
  std::vector<std::string> queues;
  JobId latest_id = 0;
  std::string latest_finished_at;
};

struct ErrorGroups {
  std::vector<ErrorGroup> groups;  // largest first, at most 100
  std::int64_t scanned = 0;        // dead jobs looked at (the newest ones)
  std::int64_t total = 0;          // dead jobs that match (exact)
  bool complete = false;           // every matching dead job was looked at
};

class JobListing {
 public:
  explicit JobListing(pg::Connection& conn) : conn_(conn) {}

  std::optional<Job> Get(JobId id);
  // The jobs that exist among `ids`, in the order of `ids`.
  std::vector<Job> GetMany(const std::vector<JobId>& ids);
  // One page. `next` is set only when more jobs match past this page, so a
  // client stops when it is absent. Throws InvalidArgument for a limit out
  // of range.
  JobPage List(const JobFilter& filter);
  // Due queued jobs per queue; queues with none due are absent.
  std::map<std::string, std::int64_t> DueDepth();
  // Jobs finished per 10-second bucket over the last `seconds` (10..900),
  // oldest first, every bucket present; the last one is still filling.
  std::vector<ThroughputBucket> Throughput(int seconds, const std::optional<std::string>& queue);
  // The newest `scan_limit` dead jobs of the queue and kind (unset: any),
  // grouped by error.
  ErrorGroups DeadErrors(const std::optional<std::string>& queue, const std::optional<std::string>& kind,
                         int scan_limit = 1000);

 private:
  pg::Connection& conn_;
};

// A row of get_job, api_get_jobs or api_list_jobs (every column of jobs
// but lease_token) as a Job.
Job JobFromRow(const pqxx::row& row);

}  // namespace jobqueue::core
