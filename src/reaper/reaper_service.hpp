#pragma once
// ReaperService: the jobqueue-reaper loop. Every interval, a replica that
// is not leading tries to take the leader lock; the leader runs one pass:
// reclaim expired leases, then prune finished jobs past the retention, each
// in bounded batches (one short statement per batch) until nothing is left
// or the pass's budget is spent (batches for reclaiming, time for pruning;
// a pass that leaves jobs to prune is followed at once by the next), then
// fold the finished-count deltas. Any database error drops leadership
// and the session; the next interval starts again from a new one.
// Owned by main; Run() blocks until Stop().
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

#include "core/ops_server.hpp"

namespace jobqueue::core {
class Metrics;
}

namespace jobqueue::reaper {

struct ReaperOptions {
  std::string dsn;                 // libpq URI or key=value; empty: PG* variables
  std::string reaper_id;           // log field
  double interval_seconds = 60;    // between passes (and leadership attempts)
  double retention_hours = 168;    // finished jobs older than this are deleted
  int batch_size = 1000;           // rows per statement: short transactions, short locks
  int max_batches_per_pass = 100;  // bound reclaiming in one pass; the next one continues
  double prune_seconds_per_pass = 5;  // bound pruning in one pass; the next starts at once
};

struct PassReport {
  std::int64_t requeued = 0;
  std::int64_t dead = 0;
  std::int64_t pruned = 0;
  bool more_to_prune = false;  // stopped pruning at the time budget
  double seconds = 0;
};

class ReaperService {
 public:
  // `metrics` may be null; when given it must outlive the service.
  ReaperService(ReaperOptions options, core::Metrics* metrics);
  void Run();
  void Stop();  // any thread
  core::HealthReport Health() const;

 private:
  const ReaperOptions options_;
  core::Metrics* metrics_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::atomic<bool> leader_{false};
  std::atomic<bool> database_up_{false};
  core::LoopTick loop_tick_;
  std::atomic<std::int64_t> passes_{0};
};

}  // namespace jobqueue::reaper
