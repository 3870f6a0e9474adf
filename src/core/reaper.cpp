#include "core/reaper.hpp"

#include "core/errors.hpp"
#include "core/metrics.hpp"
#include "core/worker_registry.hpp"

namespace jobqueue::core {

Reaper::Reaper(pg::Connection& conn, Metrics* metrics) : conn_(conn), metrics_(metrics) {}

bool Reaper::TryLead() { return conn_.Exec("try_lead_reaper")[0][0].as<bool>(); }

void Reaper::Resign() { conn_.Exec("resign_reaper"); }

ReclaimResult Reaper::ReclaimExpired(int limit, const std::optional<std::string>& now) {
  if (limit < 1) throw InvalidArgument("limit: must be at least 1", "limit");
  const auto rows = conn_.Exec("reclaim_expired", limit, now ? now->c_str() : nullptr);
  ReclaimResult result;
  for (const auto& row : rows) {
    if (std::string(row["state"].c_str()) == "dead") {
      ++result.dead;
    } else {
      ++result.requeued;
    }
  }
  if (metrics_) {
    metrics_->LeasesReclaimed(static_cast<double>(result.total()));
    metrics_->JobsDeadLettered(static_cast<double>(result.dead));
  }
  return result;
}

std::int64_t Reaper::PruneFinished(double retention_seconds, int limit,
                                   const std::optional<std::string>& now) {
  if (limit < 1) throw InvalidArgument("limit: must be at least 1", "limit");
  if (retention_seconds < 0) throw InvalidArgument("retention: must not be negative", "retention");
  const auto rows =
      conn_.Exec("prune_finished", retention_seconds, limit, now ? now->c_str() : nullptr);
  const auto pruned = static_cast<std::int64_t>(rows.size());
  if (metrics_) metrics_->JobsPruned(static_cast<double>(pruned));
  return pruned;
}

std::int64_t Reaper::PruneWorkers(double unseen_seconds) {
  return WorkerRegistry(conn_).Prune(unseen_seconds);
}

std::int64_t Reaper::CompactFinishedCounts() {
  return conn_.Exec("compact_finished_counts")[0][0].as<std::int64_t>();
}

}  // namespace jobqueue::core
