#pragma once
// Reaper: the maintenance steps of the lease protocol, each one bounded
// batch (one short transaction) per call. The jobqueue-reaper binary calls
// them in a loop; tests call them directly with a moved clock.
#include <cstdint>
#include <optional>
#include <string>

#include "core/pg/connection.hpp"

namespace jobqueue::core {

class Metrics;

struct ReclaimResult {
  std::int64_t requeued = 0;  // back to queued after backoff
  std::int64_t dead = 0;      // attempts were used up
  std::int64_t total() const { return requeued + dead; }
};

class Reaper {
 public:
  // `metrics` may be null; when given it must outlive the Reaper.
  explicit Reaper(pg::Connection& conn, Metrics* metrics = nullptr);

  // Leadership: at most one reaper works at a time. TryLead() takes (or
  // confirms) the session-level advisory lock on this connection; it is held
  // until Resign() or the session ends. The lock counts re-entries, so call
  // TryLead() only while not leading.
  bool TryLead();
  void Resign();

  // Returns up to `limit` jobs whose lease expired before `now` (unset: the
  // database's now()). Call again while total() == limit.
  ReclaimResult ReclaimExpired(int limit, const std::optional<std::string>& now = std::nullopt);

  // Deletes up to `limit` finished jobs older than `retention_seconds`.
  // Returns how many; call again while it returns `limit`.
  std::int64_t PruneFinished(double retention_seconds, int limit,
                             const std::optional<std::string>& now = std::nullopt);

  // Folds the delta rows of jobqueue.finished_counts into one per group, so
  // reads of the counts stay short. Returns the rows left.
  std::int64_t CompactFinishedCounts();

  // Deletes the rows of jobqueue.workers not seen for a day (workers that
  // went away: a scaled-down pod). Returns how many.
  std::int64_t PruneWorkers(double unseen_seconds = 86400);

 private:
  pg::Connection& conn_;
  Metrics* metrics_;
};

}  // namespace jobqueue::core
