#include "reaper/reaper_service.hpp"

#include <chrono>
#include <memory>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/pg/connection.hpp"
#include "core/reaper.hpp"

namespace jobqueue::reaper {
namespace {

using Clock = std::chrono::steady_clock;

PassReport RunPass(core::Reaper& reaper, const ReaperOptions& options) {
  const auto started = Clock::now();
  PassReport report;
  for (int i = 0; i < options.max_batches_per_pass; ++i) {
    const auto r = reaper.ReclaimExpired(options.batch_size);
    report.requeued += r.requeued;
    report.dead += r.dead;
    if (r.total() < options.batch_size) break;
  }
  // Pruning is bounded by time, not batches: a fixed batch budget capped
  // retention below the rate workers finish jobs at. A pass that runs out of
  // time says so, and the next one starts at once (reclaiming first).
  const double retention_seconds = options.retention_hours * 3600;
  const auto prune_until = started + std::chrono::duration<double>(options.prune_seconds_per_pass);
  for (;;) {
    const auto n = reaper.PruneFinished(retention_seconds, options.batch_size);
    report.pruned += n;
    if (n < options.batch_size) break;
    if (Clock::now() >= prune_until) {
      report.more_to_prune = true;
      break;
    }
  }
  reaper.CompactFinishedCounts();
  reaper.PruneWorkers();
  report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return report;
}

}  // namespace

ReaperService::ReaperService(ReaperOptions options, core::Metrics* metrics)
    : options_(std::move(options)), metrics_(metrics) {}

void ReaperService::Stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

core::HealthReport ReaperService::Health() const {
  const bool started = loop_tick_.Started();
  const double idle = loop_tick_.SecondsIdle();
  // The loop ticks once per interval (plus one pass); three missed ticks and
  // a minute of slack mean it is stuck.
  const bool alive = idle < 3 * options_.interval_seconds + 60;
  nlohmann::json body = {{"status", !started ? "starting" : alive ? "ok" : "stuck"},
                         {"reaper_id", options_.reaper_id},
                         {"leader", leader_.load()},
                         {"database", database_up_ ? "up" : "down"},
                         {"passes", passes_.load()}};
  return {alive, body.dump()};
}

void ReaperService::Run() {
  const nlohmann::json id = {{"reaper_id", options_.reaper_id}};
  std::unique_ptr<core::pg::Connection> conn;
  std::unique_ptr<core::Reaper> reaper;
  bool more_to_prune = false;
  for (;;) {
    loop_tick_.Mark();
    try {
      if (!conn) {
        conn = std::make_unique<core::pg::Connection>(options_.dsn);
        reaper = std::make_unique<core::Reaper>(*conn, metrics_);
      }
      if (!leader_ && reaper->TryLead()) {
        leader_ = true;
        // Before the pass, so no scrape sees a pass's metrics beside leader 0.
        if (metrics_) metrics_->SetReaperLeader(true);
        spdlog::info("{}", core::LogFields("became the leader", id));
      }
      database_up_ = true;
      if (leader_) {
        const auto report = RunPass(*reaper, options_);
        more_to_prune = report.more_to_prune;
        ++passes_;
        if (metrics_) metrics_->ReaperPass(report.seconds);
        auto fields = id;
        fields.update({{"requeued", report.requeued}, {"dead", report.dead},
                       {"pruned", report.pruned}, {"seconds", report.seconds}});
        if (report.requeued || report.dead || report.pruned) {
          spdlog::info("{}", core::LogFields("reaper pass", fields));
        } else {
          spdlog::debug("{}", core::LogFields("reaper pass", fields));
        }
      }
    } catch (const jobqueue::Error& e) {
      // The session (and with it the lock) may be gone: start over.
      if (leader_) spdlog::warn("{}", core::LogFields("lost leadership with the session", id));
      leader_ = false;
      database_up_ = false;
      more_to_prune = false;
      reaper.reset();
      conn.reset();
      auto fields = id;
      fields["error"] = e.what();
      spdlog::warn("{}", core::LogFields("database error; retrying next interval", fields));
    }
    if (metrics_) metrics_->SetReaperLeader(leader_);

    std::unique_lock<std::mutex> lk(mu_);
    const double wait = more_to_prune ? 0 : options_.interval_seconds;
    if (cv_.wait_for(lk, std::chrono::duration<double>(wait),
                     [this] { return stopping_; })) {
      break;
    }
  }
  if (leader_ && reaper) {
    try {
      reaper->Resign();  // hand over now rather than when the session closes
    } catch (const jobqueue::Error&) {
    }
  }
  leader_ = false;
}

}  // namespace jobqueue::reaper
