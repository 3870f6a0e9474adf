#pragma once
// DbWorkQueue: runs the API's database work on threads of its own (one per
// pooled session), so the HTTP threads parse, validate and answer while
// PostgreSQL works, and a slow or unreachable database never stalls /health.
//
// Work waits in FIFO order. Work that waited longer than `max_wait` for a
// session, that finds the queue full, or that arrives after Stop(), is
// refused with Transient (the API answers 503) rather than run late.
//
// Single submissions (POST /v1/jobs) that wait together are enqueued
// together: a thread takes up to `max_coalesce` of them and writes them with
// one Queue::EnqueueMany (one transaction, one commit) instead of one commit
// each. That is what lets one server take thousands of submissions a second
// on a durable (fsync) database. Idempotency keys keep their meaning inside
// such a batch (the same key twice: one job, the second sees created = false);
// if the batch fails for any reason but a database outage, each job is
// retried alone so one job's error never fails another.
//
// Owned by ApiServer; the pool and metrics must outlive it.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "api/request_validation.hpp"
#include "core/connection_pool.hpp"
#include "core/job.hpp"

namespace jobqueue::core {
class Metrics;
}

namespace jobqueue::api {

struct DbWorkOptions {
  int threads = 8;                                   // = the pool's size
  std::chrono::milliseconds max_wait{5000};          // longest wait for a session
  std::size_t max_queued = 10000;                    // more waiting work is refused at once
  std::size_t max_coalesce = 128;                    // most single submissions per statement
};

// What became of one submitted job. Exactly one of `error` and `id` is set.
struct EnqueueOutcome {
  core::JobId id = 0;
  bool created = false;            // false: the idempotency key matched an existing job
  std::optional<core::Job> job;    // the job as stored (unset if reading it back failed)
  std::exception_ptr error;
};

class DbWorkQueue {
 public:
  using Work = std::function<void(core::pg::Connection&)>;
  using Refusal = std::function<void(std::exception_ptr)>;
  using EnqueueDone = std::function<void(EnqueueOutcome)>;

  DbWorkQueue(core::ConnectionPool& pool, core::Metrics* metrics, DbWorkOptions options);
  ~DbWorkQueue();
  DbWorkQueue(const DbWorkQueue&) = delete;
  DbWorkQueue& operator=(const DbWorkQueue&) = delete;

  // Runs `work` with a session on a worker thread. If `work` throws, or it
  // cannot run (see above), `refused` gets the exception instead; exactly
  // one of the two runs to its end. `refused` may run on the caller's thread.
  void Submit(Work work, Refusal refused);
  // Submit for work that only reads: retried once when the session it got
  // turns out broken (the database restarted since its last use).
  void SubmitRead(Work work, Refusal refused);

  // Enqueues one job (coalesced as described above); `done` is called
  // exactly once, on a worker thread or the caller's.
  void SubmitEnqueue(JobRequest request, EnqueueDone done);

  // Refuses new work, runs what is queued, joins the threads. Idempotent.
  void Stop();

 private:
  using Clock = std::chrono::steady_clock;
  struct Task {
    Work work;
    Refusal refused;
    Clock::time_point queued_at;
  };
  struct PendingJob {
    JobRequest request;
    EnqueueDone done;
    Clock::time_point queued_at;
  };

  void Run();
  void RunTask(Task& task);
  void RunJobs(std::vector<PendingJob>& jobs);
  // Enqueues `jobs` as one statement (or one Enqueue for one job) and fills
  // their outcomes; throws whatever the database threw.
  void EnqueueTogether(core::pg::Connection& conn, std::vector<PendingJob>& jobs,
                       std::vector<EnqueueOutcome>& outcomes);

  core::ConnectionPool& pool_;
  core::Metrics* metrics_;
  const DbWorkOptions options_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Task> tasks_;
  std::deque<PendingJob> jobs_;
  bool jobs_turn_ = false;  // alternate between the two queues when both wait
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace jobqueue::api
