#pragma once
// Worker: claims jobs from the queues it serves, runs them on a fixed pool of
// threads, and writes every outcome back under the attempt's lease.
//
// Dispatcher threads (`connections` of them, each with its own session) are
// the only threads that talk to PostgreSQL: claims, completions, failures,
// heartbeats, releases. `concurrency` executor threads run handlers; a
// listener thread turns NOTIFYs into wake-ups. Dispatchers never lease more
// jobs than there are idle executors, hand finished jobs in and take the
// next batch in one statement, and heartbeat all held leases in one. More
// than one dispatcher keeps the executors fed while a round trip is in
// flight: with short jobs the database, not the handlers, sets the pace.
//
// Owned by main. Run() blocks until Stop() has drained the worker.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/job.hpp"
#include "core/ops_server.hpp"
#include "worker/handlers.hpp"

namespace jobqueue::core {
class Metrics;
namespace pg {
class Connection;
}
class Queue;
}  // namespace jobqueue::core

namespace jobqueue::worker {

struct WorkerOptions {
  std::string dsn;                         // libpq URI or key=value; empty: PG* variables
  std::string worker_id;                   // lease_owner and log field (the pod name)
  std::vector<std::string> queues = {"default"};
  int concurrency = 10;                    // handlers running at once (threads)
  int batch_size = 10;                     // most jobs leased per statement
  int connections = 1;                     // dispatchers (database sessions) for claims and writes
  double poll_interval_seconds = 1.0;      // look for due jobs this often without a NOTIFY
  double lease_seconds = 300;              // lease length; extended by heartbeats
  double heartbeat_seconds = 100;          // extend held leases this often (< lease_seconds)
  double report_seconds = 15;              // record itself in jobqueue.workers this often
  double job_timeout_seconds = 300;        // a handler running longer is failed (retryable)
  double shutdown_grace_seconds = 25;      // after Stop(), how long running jobs may finish
  // While jobs are plentiful, finished jobs wait up to this long so that
  // completions and the next claim share one statement.
  double flush_delay_seconds = 0.002;
  // Fetch-ahead: beyond its idle executors a worker may lease jobs that wait
  // in its local queue, as many as its executors are expected to start
  // within this many seconds at the observed handler time (at most two
  // batches more). A job that has waited this long unstarted is handed back. 0: never
  // lease more jobs than idle executors.
  double prefetch_max_wait_seconds = 0;
  // False (JOB_RETENTION_HOURS=0): a job that succeeds is deleted at once,
  // result and all, instead of kept as succeeded for the reaper to prune.
  bool keep_succeeded = true;
};

struct WorkerStats {
  std::int64_t succeeded = 0;
  std::int64_t failed = 0;     // attempts recorded as failed (retry or dead)
  std::int64_t lease_lost = 0; // outcomes refused: the lease was gone
  std::int64_t released = 0;   // handed back unstarted (shutdown, or waited past the prefetch bound)
  std::int64_t max_leased = 0; // most jobs leased and not yet run to the end at once (running + fetched ahead)
  double first_started_at = 0; // unix seconds of the first handler start (0: none)
};

class Worker {
 public:
  // `registry` and `metrics` (may be null) must outlive the worker.
  Worker(WorkerOptions options, const HandlerRegistry& registry, core::Metrics* metrics);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Runs until Stop() and the drain are done. Returns false when some
  // handler ignored cancellation and is still running (the caller should
  // exit without unwinding).
  bool Run();
  // Stop claiming, hand back unstarted jobs, let running ones finish within
  // the grace period. Safe from any thread, any number of times.
  void Stop();
  // Wakes the dispatcher to look for jobs now (a NOTIFY arrived).
  void Wake();

  core::HealthReport Health() const;
  WorkerStats Stats() const;

 private:
  using Clock = std::chrono::steady_clock;

  // One leased job, from claim until its outcome is written.
  struct Task {
    core::ClaimedJob job;
    std::atomic<bool> cancelled{false};
    bool started = false;   // an executor took it (guarded by mu_)
    bool given_up = false;  // outcome will be ignored (guarded by mu_)
    // Its handler finished or it is being handed back: the write of its
    // outcome (or release) reports a lost lease itself (guarded by mu_).
    bool handed_in = false;
    Clock::time_point claimed_at;  // when its claim came back
    Clock::time_point started_at;
  };
  struct Finished {
    std::shared_ptr<Task> task;
    HandlerOutcome outcome;
    double seconds = 0;
    Clock::time_point at;
  };
  struct PendingFailure {
    std::shared_ptr<Task> task;
    std::string error;
    bool permanent = false;
    double seconds = 0;
  };

  // Database work one dispatcher took on, written in one go.
  struct Round {
    std::vector<std::shared_ptr<Task>> releases;
    std::vector<PendingFailure> failures;
    std::vector<Finished> successes;
    int claim = 0;
    bool heartbeat = false;
    bool report = false;  // record this worker in jobqueue.workers
  };

  void ExecutorLoop();
  HandlerOutcome RunHandler(Task& task);
  void DispatcherLoop(int lane);
  // Waits until there is database work, takes it out of the shared pending
  // lists and reserves the executors it claims for. False when drained.
  bool NextRound(Round* round);
  // Writes the round's releases, failures and completions, then claims.
  // Throws jobqueue::Error (Transient when the database is unreachable);
  // whatever was not written is then back in the pending lists.
  void WriteAndClaim(core::Queue& queue, Round& round);
  void HeartbeatLeases(core::Queue& queue);
  // Upserts this worker's row in jobqueue.workers (the dashboard's and
  // GET /v1/workers' list); best effort at exit.
  void ReportSelf(core::pg::Connection& conn);
  void ReportStopped();
  int WakeThreshold() const;
  // Jobs that may be leased beyond the executors (fetch-ahead), from the
  // observed handler time; 0 while unknown or when jobs are long.
  int PrefetchLimit() const;
  // True when an executor should be woken for the ready jobs (and counts
  // that wake-up as on its way). mu_ held; notify after unlocking.
  bool WakeOneExecutor();
  void Requeue(Round& round);                                          // mu_ held
  void GiveUp(const std::shared_ptr<Task>& task, const std::string& reason);  // mu_ held

  const WorkerOptions options_;
  const HandlerRegistry& registry_;
  core::Metrics* metrics_;

  // Everything below is guarded by mu_ unless said otherwise.
  mutable std::mutex mu_;
  std::condition_variable dispatch_cv_;  // dispatchers: work or events
  std::condition_variable exec_cv_;      // executors: ready jobs or exit
  std::deque<std::shared_ptr<Task>> ready_;  // claimed, not started
  double handler_seconds_avg_ = -1;          // moving average of handler run time (-1: none yet)
  std::vector<Finished> finished_;           // handed in by executors
  std::map<core::JobId, std::shared_ptr<Task>> held_;  // leased, outcome not yet written
  std::vector<std::shared_ptr<Task>> pending_release_;
  std::vector<PendingFailure> pending_failures_;
  std::vector<Finished> pending_successes_;
  int busy_ = 0;              // executors running a handler
  int sleeping_executors_ = 0;  // executors waiting on exec_cv_
  int wakes_in_flight_ = 0;     // executors notified, not yet awake
  int claims_in_flight_ = 0;  // executors reserved by claims on the wire
  int rounds_in_flight_ = 0;
  bool notified_ = false;
  bool backlog_ = false;      // the last claim came back full: more is waiting
  bool stopping_ = false;
  bool grace_over_ = false;
  bool drained_ = false;
  bool exiting_ = false;
  Clock::time_point grace_deadline_;
  Clock::time_point next_poll_;
  Clock::time_point next_heartbeat_;
  Clock::time_point next_timeout_check_;
  bool heartbeat_in_flight_ = false;
  Clock::time_point next_report_;
  bool report_in_flight_ = false;
  std::string started_at_;  // this Run()'s start, RFC 3339 UTC
  WorkerStats stats_;

  std::atomic<int> sessions_up_{0};
  core::LoopTick loop_tick_;
  std::vector<std::thread> executors_;
};

}  // namespace jobqueue::worker
