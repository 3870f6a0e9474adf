#include "worker/worker.hpp"

#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>

#include "core/backoff.hpp"
#include "core/errors.hpp"
#include "core/job_blobs.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/pg/connection.hpp"
#include "core/queue.hpp"
#include "core/worker_registry.hpp"
#include "worker/notification_listener.hpp"

namespace jobqueue::worker {
namespace {

using Clock = std::chrono::steady_clock;

Clock::duration Seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

nlohmann::json JobFields(const std::string& worker_id, const core::ClaimedJob& job) {
  return {{"job_id", job.lease.job_id}, {"worker_id", worker_id}, {"queue", job.queue},
          {"kind", job.kind}, {"attempt", job.attempt}};
}

}  // namespace

Worker::Worker(WorkerOptions options, const HandlerRegistry& registry, core::Metrics* metrics)
    : options_(std::move(options)), registry_(registry), metrics_(metrics) {}

Worker::~Worker() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    exiting_ = true;
  }
  exec_cv_.notify_all();
  for (auto& t : executors_) {
    if (t.joinable()) t.detach();  // only reached when Run() gave up on a stuck handler
  }
}

void Worker::Stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) return;
    stopping_ = true;
    grace_deadline_ = Clock::now() + Seconds(options_.shutdown_grace_seconds);
  }
  dispatch_cv_.notify_all();
}

void Worker::Wake() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    notified_ = true;
  }
  dispatch_cv_.notify_all();
}

core::HealthReport Worker::Health() const {
  const bool started = loop_tick_.Started();
  const double idle = loop_tick_.SecondsIdle();
  // Dispatchers wake at least every second; a minute without a tick means
  // they are stuck (a hung statement, a deadlock), which a restart fixes.
  const bool alive = idle < 60;
  std::size_t held;
  bool stopping;
  {
    std::lock_guard<std::mutex> lk(mu_);
    held = held_.size();
    stopping = stopping_;
  }
  nlohmann::json body = {{"status", !started ? "starting" : alive ? "ok" : "stuck"},
                         {"worker_id", options_.worker_id},
                         {"database", sessions_up_ > 0 ? "up" : "down"},
                         {"jobs_held", held},
                         {"draining", stopping},
                         {"seconds_since_loop", std::round(idle * 1000) / 1000}};
  return {alive, body.dump()};
}

WorkerStats Worker::Stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

bool Worker::Run() {
  loop_tick_.Mark();
  next_poll_ = Clock::now();
  next_heartbeat_ = Clock::now() + Seconds(options_.heartbeat_seconds);
  next_report_ = Clock::now();
  started_at_ = core::Rfc3339Utc(std::chrono::system_clock::now());
  for (int i = 0; i < options_.concurrency; ++i) executors_.emplace_back([this] { ExecutorLoop(); });
  NotificationListener listener(options_.dsn,
                                std::set<std::string>(options_.queues.begin(), options_.queues.end()),
                                [this] { Wake(); });
  listener.Start();
  std::vector<std::thread> dispatchers;
  for (int lane = 1; lane < options_.connections; ++lane) {
    dispatchers.emplace_back([this, lane] { DispatcherLoop(lane); });
  }
  DispatcherLoop(0);
  for (auto& t : dispatchers) t.join();
  listener.Stop();

  // Executors exit once nothing is ready; a handler that ignores
  // cancellation may still hold its thread.
  {
    std::lock_guard<std::mutex> lk(mu_);
    exiting_ = true;
  }
  exec_cv_.notify_all();
  const auto give_up_at = Clock::now() + std::chrono::seconds(2);
  for (;;) {
    std::unique_lock<std::mutex> lk(mu_);
    if (busy_ == 0) break;
    if (Clock::now() >= give_up_at) return false;
    lk.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& t : executors_) t.join();
  executors_.clear();
  ReportStopped();
  return true;
}

void Worker::DispatcherLoop(int lane) {
  core::Backoff backoff;
  std::unique_ptr<core::pg::Connection> conn;
  std::unique_ptr<core::Queue> queue;
  bool up = false;
  Round round;
  while (NextRound(&round)) {
    try {
      if (!conn) {
        // Generic plans: the worker's statements are shaped so that one plan
        // fits every batch (index and TID lookups whatever the sizes), and a
        // custom plan per call both costs planning and, on a small table,
        // picks a hash join over a sequential scan (bench/README.md,
        // "Instructions per job").
        conn = std::make_unique<core::pg::Connection>(options_.dsn, "SET plan_cache_mode = force_generic_plan");
        queue = std::make_unique<core::Queue>(*conn, metrics_);
        if (!options_.keep_succeeded) queue->set_on_success(core::Queue::OnSuccess::kDelete);
      }
      WriteAndClaim(*queue, round);
      if (!up) {
        up = true;
        ++sessions_up_;
        if (backoff.attempts() > 0) {
          spdlog::info("{}", core::LogFields("database reachable again",
                                             {{"worker_id", options_.worker_id}, {"lane", lane}}));
        }
      }
      backoff.Reset();
    } catch (const jobqueue::Error& e) {
      // Transient (database gone) or anything unexpected: nothing pending is
      // dropped; it is retried after a pause, with a fresh session.
      if (up) --sessions_up_;
      up = false;
      const double delay = backoff.Next();
      spdlog::warn("{}", core::LogFields("database error; retrying",
                                         {{"worker_id", options_.worker_id}, {"lane", lane},
                                          {"error", e.what()}, {"retry_in_seconds", delay}}));
      queue.reset();
      conn.reset();
      std::unique_lock<std::mutex> lk(mu_);
      Requeue(round);
      auto until = Clock::now() + Seconds(delay);
      if (stopping_) until = std::min(until, grace_deadline_ + std::chrono::seconds(2));
      // A stop signal ends the pause at once: the drain must not wait out a
      // backoff of up to 10 s before it can hand jobs back.
      const bool was_stopping = stopping_;
      dispatch_cv_.wait_until(lk, until, [&] { return drained_ || stopping_ != was_stopping; });
    }
  }
  if (up) --sessions_up_;
}

bool Worker::NextRound(Round* round) {
  *round = Round();
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    const auto now = Clock::now();
    loop_tick_.Mark(now);
    if (drained_) return false;

    // Sort what executors handed in.
    for (auto& f : finished_) {
      if (f.outcome.kind == HandlerOutcome::Kind::kSuccess) {
        pending_successes_.push_back(std::move(f));
      } else {
        pending_failures_.push_back({f.task, f.outcome.error,
                                     f.outcome.kind == HandlerOutcome::Kind::kPermanentError, f.seconds});
      }
    }
    finished_.clear();

    if (stopping_ && !ready_.empty() && claims_in_flight_ == 0) {
      // Claimed but never started: back to the queue at once, not after the
      // lease. Not while a claim is on the wire: it could lock a row this
      // release just freed and take the job again.
      for (auto& task : ready_) {
        task->handed_in = true;
        pending_release_.push_back(task);
      }
      ready_.clear();
    }
    if (stopping_ && now >= grace_deadline_) grace_over_ = true;
    // Timeouts need not be exact to the millisecond; scanning every held job
    // on every wake-up would cost more than short jobs themselves.
    const bool check_timeouts = now >= next_timeout_check_ || grace_over_;
    if (check_timeouts) next_timeout_check_ = now + std::chrono::milliseconds(100);
    // The fetch-ahead bound: a job fetched ahead that has waited this long
    // unstarted (handlers ran slower than observed) goes back to the queue,
    // where another worker may take it, instead of running down its lease
    // here. The local queue is in claim order, so the oldest are in front.
    if (check_timeouts && options_.prefetch_max_wait_seconds > 0 && !stopping_) {
      const auto limit = Seconds(options_.prefetch_max_wait_seconds);
      while (!ready_.empty() && now - ready_.front()->claimed_at >= limit) {
        ready_.front()->handed_in = true;
        pending_release_.push_back(ready_.front());
        ready_.pop_front();
      }
    }
    for (auto& [id, task] : held_) {
      if (!check_timeouts) break;
      if (!task->started || task->given_up) continue;
      if (now - task->started_at >= Seconds(options_.job_timeout_seconds)) {
        GiveUp(task, fmt::format("timed out after {:g} s", options_.job_timeout_seconds));
      } else if (grace_over_) {
        GiveUp(task, fmt::format("worker shut down: the job outlived the {:g} s grace period",
                                 options_.shutdown_grace_seconds));
      }
    }

    const bool writes_pending =
        !pending_release_.empty() || !pending_failures_.empty() || !pending_successes_.empty();
    const bool idle = busy_ == 0 && ready_.empty() && rounds_in_flight_ == 0;
    // Past the grace period, stop waiting for a database that is gone or a
    // handler that ignores cancellation: their leases will expire.
    const bool give_up = grace_over_ && ((idle && sessions_up_ == 0) ||
                                         now >= grace_deadline_ + std::chrono::seconds(2));
    if ((stopping_ && idle && !writes_pending) || give_up) {
      if (writes_pending || busy_) {
        spdlog::error("{}", core::LogFields(
                                "grace period over; leaving the rest to lease expiry",
                                {{"worker_id", options_.worker_id},
                                 {"unwritten", pending_successes_.size() + pending_failures_.size() +
                                                   pending_release_.size()},
                                 {"still_running", busy_}}));
      }
      drained_ = true;
      dispatch_cv_.notify_all();
      return false;
    }

    const int free = options_.concurrency + PrefetchLimit() - static_cast<int>(ready_.size()) - busy_ -
                     claims_in_flight_;
    // While jobs are plentiful, wait for half a batch of free executors so a
    // claim takes many jobs rather than one per finished job.
    const int threshold = WakeThreshold();
    const bool can_claim = !stopping_ && free > 0;
    const bool want_claim =
        can_claim && (notified_ || now >= next_poll_ || (backlog_ && free >= threshold));
    const auto oldest_success = pending_successes_.empty() ? now : pending_successes_.front().at;
    const auto flush_at = oldest_success + Seconds(options_.flush_delay_seconds);
    const bool flush_due =
        !pending_release_.empty() || !pending_failures_.empty() ||
        (!pending_successes_.empty() &&
         (!backlog_ || stopping_ || static_cast<int>(pending_successes_.size()) >= threshold ||
          now >= flush_at));
    const bool heartbeat = now >= next_heartbeat_ && !held_.empty() && !heartbeat_in_flight_;
    const bool report = now >= next_report_ && !report_in_flight_ && !stopping_;

    if (want_claim || flush_due || heartbeat || report) {
      notified_ = false;
      round->releases.swap(pending_release_);
      round->failures.swap(pending_failures_);
      round->successes.swap(pending_successes_);
      round->claim = can_claim ? std::min(free, options_.batch_size) : 0;
      round->heartbeat = heartbeat;
      claims_in_flight_ += round->claim;
      if (round->claim > 0) next_poll_ = now + Seconds(options_.poll_interval_seconds);
      if (heartbeat) heartbeat_in_flight_ = true;
      round->report = report;
      if (report) report_in_flight_ = true;
      ++rounds_in_flight_;
      return true;
    }

    // Sleep until the earliest thing that could make work, or an event.
    auto until = now + std::chrono::seconds(1);
    if (can_claim) until = std::min(until, next_poll_);
    if (!held_.empty() && !heartbeat_in_flight_) until = std::min(until, next_heartbeat_);
    if (!report_in_flight_ && !stopping_) until = std::min(until, next_report_);
    if (!pending_successes_.empty()) until = std::min(until, flush_at);
    if (stopping_) until = std::min(until, grace_deadline_ + std::chrono::seconds(2));
    if (!held_.empty()) until = std::min(until, next_timeout_check_);
    dispatch_cv_.wait_until(lk, until);
  }
}

int Worker::WakeThreshold() const {
  return std::max(1, std::min(options_.batch_size, options_.concurrency + PrefetchLimit()) / 2);
}

int Worker::PrefetchLimit() const {
  if (options_.prefetch_max_wait_seconds <= 0 || handler_seconds_avg_ < 0) return 0;
  // The executors start concurrency / avg jobs a second; fetch no more than
  // they are expected to start within the bound, and at most two batches
  // more than they can run (so one claim is on the wire while a fetched
  // batch waits). Long jobs (avg above the bound) get none.
  const double startable = options_.concurrency * options_.prefetch_max_wait_seconds /
                           std::max(handler_seconds_avg_, 1e-6);
  return static_cast<int>(std::min<double>(2.0 * options_.batch_size, std::floor(startable)));
}

void Worker::Requeue(Round& round) {
  for (auto& t : round.releases) pending_release_.push_back(std::move(t));
  for (auto& f : round.failures) pending_failures_.push_back(std::move(f));
  pending_successes_.insert(pending_successes_.begin(), std::make_move_iterator(round.successes.begin()),
                            std::make_move_iterator(round.successes.end()));
  claims_in_flight_ -= round.claim;
  if (round.heartbeat) heartbeat_in_flight_ = false;
  if (round.report) report_in_flight_ = false;
  --rounds_in_flight_;
  round = Round();
}

void Worker::GiveUp(const std::shared_ptr<Task>& task, const std::string& reason) {
  task->given_up = true;
  task->cancelled = true;
  spdlog::warn("{}", core::LogFields("giving up on job: " + reason,
                                     JobFields(options_.worker_id, task->job)));
  pending_failures_.push_back({task, reason, false, Since(task->started_at)});
}

void Worker::WriteAndClaim(core::Queue& queue, Round& round) {
  if (!round.releases.empty()) {
    std::vector<core::Lease> leases;
    for (const auto& task : round.releases) leases.push_back(task->job.lease);
    const auto released = queue.Release(leases);
    std::lock_guard<std::mutex> lk(mu_);
    spdlog::info("{}", core::LogFields(stopping_ ? "handed back unstarted jobs"
                                                 : "handed back jobs fetched ahead that waited too long",
                                       {{"worker_id", options_.worker_id}, {"jobs", released}}));
    for (const auto& task : round.releases) held_.erase(task->job.lease.job_id);
    stats_.released += static_cast<std::int64_t>(released.size());
    round.releases.clear();
  }

  // Failures are rare: one statement each, each dropped from the round as it
  // lands so a lost connection never records one twice.
  while (!round.failures.empty()) {
    const auto& f = round.failures.front();
    const auto result = queue.Fail(f.task->job.lease, f.error, f.permanent);
    auto fields = JobFields(options_.worker_id, f.task->job);
    fields["error"] = f.error;
    if (result.write == core::WriteResult::kLeaseLost) {
      spdlog::warn("{}", core::LogFields("lease lost; failure not recorded", fields));
      if (metrics_) metrics_->LeasesLost(1);
    } else {
      fields["state"] = core::ToString(result.new_state);
      if (result.new_state == core::JobState::kQueued) fields["retry_at"] = result.run_at;
      spdlog::warn("{}", core::LogFields("job failed", fields));
      if (metrics_) metrics_->JobFailed(f.task->job.queue, f.task->job.kind);
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      ++(result.write == core::WriteResult::kLeaseLost ? stats_.lease_lost : stats_.failed);
      held_.erase(f.task->job.lease.job_id);
    }
    round.failures.erase(round.failures.begin());
  }

  // Successes with an output image: one statement each, completing the
  // attempt and storing its bytes together, so an output exists only when
  // its attempt completed under the lease. Jobs without an image never
  // take this path and pay nothing for it.
  for (auto it = round.successes.begin(); it != round.successes.end();) {
    if (!it->outcome.output) {
      ++it;
      continue;
    }
    const auto& s = *it;
    const auto& output = *s.outcome.output;
    const auto written = core::JobBlobs(queue.connection(), metrics_)
                             .CompleteWithOutput(s.task->job.lease, s.outcome.result, output.content_type,
                                                 output.bytes);
    if (written == core::WriteResult::kDone) {
      if (metrics_) metrics_->JobCompleted(s.task->job.queue, s.task->job.kind, s.seconds);
    } else {
      spdlog::warn("{}", core::LogFields("lease lost; result and output image not written",
                                         JobFields(options_.worker_id, s.task->job)));
      if (metrics_) metrics_->LeasesLost(1);
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      ++(written == core::WriteResult::kDone ? stats_.succeeded : stats_.lease_lost);
      held_.erase(s.task->job.lease.job_id);
    }
    it = round.successes.erase(it);
  }

  if (!round.successes.empty() || round.claim > 0) {
    std::vector<core::Lease> leases;
    std::vector<nlohmann::json> results;
    bool any_result = false;
    for (auto& s : round.successes) {
      leases.push_back(s.task->job.lease);
      results.push_back(s.outcome.result);
      any_result = any_result || !s.outcome.result.is_null();
    }
    if (!any_result) results.clear();  // no array to send or parse
    core::ClaimRequest request;
    request.queues = options_.queues;
    request.limit = round.claim;
    request.worker_id = options_.worker_id;
    request.lease_seconds = options_.lease_seconds;
    auto out = queue.CompleteAndClaim(leases, results, request);

    std::int64_t done = 0, lost = 0;
    bool wake_executor = false;
    for (std::size_t i = 0; i < round.successes.size(); ++i) {
      const auto& s = round.successes[i];
      if (out.completed[i] == core::WriteResult::kDone) {
        ++done;
        if (metrics_) metrics_->JobCompleted(s.task->job.queue, s.task->job.kind, s.seconds);
        if (spdlog::should_log(spdlog::level::debug)) {
          auto fields = JobFields(options_.worker_id, s.task->job);
          fields["seconds"] = s.seconds;
          spdlog::debug("{}", core::LogFields("job succeeded", fields));
        }
      } else {
        // Also what a retried write looks like when the first one committed
        // but its answer was lost with the connection.
        ++lost;
        spdlog::warn("{}", core::LogFields("lease lost; result not written",
                                           JobFields(options_.worker_id, s.task->job)));
      }
    }
    if (metrics_ && lost) metrics_->LeasesLost(static_cast<double>(lost));
    {
      std::lock_guard<std::mutex> lk(mu_);
      for (const auto& s : round.successes) held_.erase(s.task->job.lease.job_id);
      stats_.succeeded += done;
      stats_.lease_lost += lost;
      if (round.claim > 0) backlog_ = static_cast<int>(out.claimed.size()) == round.claim;
      claims_in_flight_ -= round.claim;
      const auto claimed_at = Clock::now();
      for (auto& job : out.claimed) {
        auto task = std::make_shared<Task>();
        task->job = std::move(job);
        task->claimed_at = claimed_at;
        held_[task->job.lease.job_id] = task;
        ready_.push_back(std::move(task));
      }
      stats_.max_leased = std::max<std::int64_t>(stats_.max_leased, static_cast<std::int64_t>(ready_.size()) + busy_);
      if (metrics_) metrics_->SetJobsRunning(static_cast<double>(held_.size()));
      wake_executor = !out.claimed.empty() && WakeOneExecutor();
    }
    if (wake_executor) exec_cv_.notify_one();
    round.successes.clear();
    round.claim = 0;
  }

  if (round.heartbeat) {
    HeartbeatLeases(queue);
    round.heartbeat = false;
  }
  if (round.report) {
    ReportSelf(queue.connection());
    round.report = false;
  }
  std::lock_guard<std::mutex> lk(mu_);
  --rounds_in_flight_;
  dispatch_cv_.notify_all();  // the drain check and other dispatchers may be waiting on this
}

void Worker::ReportSelf(core::pg::Connection& conn) {
  core::WorkerReport report;
  report.id = options_.worker_id;
  report.queues = options_.queues;
  report.concurrency = options_.concurrency;
  report.started_at = started_at_;
  {
    std::lock_guard<std::mutex> lk(mu_);
    report.running = busy_;
  }
  core::WorkerRegistry(conn).Seen(report);
  std::lock_guard<std::mutex> lk(mu_);
  next_report_ = Clock::now() + Seconds(options_.report_seconds);
  report_in_flight_ = false;
}

void Worker::ReportStopped() {
  // A fresh short session: the dispatchers' are closed by now. Best effort:
  // a worker that cannot say so simply stops being seen.
  try {
    core::pg::Connection conn(options_.dsn);
    core::WorkerRegistry(conn).Stopped(options_.worker_id);
  } catch (const std::exception& e) {
    spdlog::debug("{}", core::LogFields("could not record the worker as stopped",
                                        {{"worker_id", options_.worker_id}, {"error", e.what()}}));
  }
}

void Worker::HeartbeatLeases(core::Queue& queue) {
  std::vector<core::Lease> leases;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (const auto& [id, task] : held_) leases.push_back(task->job.lease);
  }
  const auto lost = queue.Heartbeat(leases, options_.lease_seconds);
  std::lock_guard<std::mutex> lk(mu_);
  next_heartbeat_ = Clock::now() + Seconds(options_.heartbeat_seconds);
  heartbeat_in_flight_ = false;
  for (const auto& lease : lost) {
    const auto it = held_.find(lease.job_id);
    if (it == held_.end()) continue;  // written meanwhile by another dispatcher
    auto task = it->second;
    // Finished or handed back since the heartbeat read its lease: another
    // dispatcher may have just written it (a completed job is no longer
    // running, so the heartbeat misses it). That write reports a lease
    // that really was lost; calling it lost here would be a false alarm.
    if (task->handed_in) continue;
    task->given_up = true;
    task->cancelled = true;
    ready_.erase(std::remove(ready_.begin(), ready_.end(), task), ready_.end());
    spdlog::warn("{}", core::LogFields("lease lost (reclaimed or cancelled); abandoning job",
                                       JobFields(options_.worker_id, task->job)));
    ++stats_.lease_lost;
    held_.erase(it);
  }
  if (lost.empty()) return;
  // Pending writes for abandoned jobs would only be refused: drop them.
  auto gone = [this](const auto& item) { return !held_.count(item.task->job.lease.job_id); };
  pending_successes_.erase(std::remove_if(pending_successes_.begin(), pending_successes_.end(), gone),
                           pending_successes_.end());
  pending_failures_.erase(std::remove_if(pending_failures_.begin(), pending_failures_.end(), gone),
                          pending_failures_.end());
  if (metrics_) metrics_->LeasesLost(static_cast<double>(lost.size()));
}

bool Worker::WakeOneExecutor() {
  // One wake-up at a time: the woken executor takes a job and, if more are
  // waiting, wakes the next. Short jobs are then run by the few executors
  // already awake instead of costing a futex wake and a context switch each
  // (which, for no-op jobs, cost more than the jobs); long jobs still fan out
  // to every free executor within a few wake-up latencies.
  if (ready_.empty() || sleeping_executors_ == 0 || wakes_in_flight_ > 0) return false;
  ++wakes_in_flight_;
  return true;
}

void Worker::ExecutorLoop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    while (ready_.empty() && !exiting_) {
      ++sleeping_executors_;
      exec_cv_.wait(lk);
      --sleeping_executors_;
      if (wakes_in_flight_ > 0) --wakes_in_flight_;
    }
    if (ready_.empty()) return;  // exiting
    std::shared_ptr<Task> task = ready_.front();
    ready_.pop_front();
    task->started = true;
    task->started_at = Clock::now();
    ++busy_;
    if (stats_.first_started_at == 0) stats_.first_started_at = UnixNow();
    const bool wake_next = WakeOneExecutor();
    lk.unlock();
    if (wake_next) exec_cv_.notify_one();

    HandlerOutcome outcome = RunHandler(*task);
    const double seconds = Since(task->started_at);

    lk.lock();
    --busy_;
    // What sizes the fetch-ahead: recent handler times weigh most.
    handler_seconds_avg_ = handler_seconds_avg_ < 0 ? seconds : 0.9 * handler_seconds_avg_ + 0.1 * seconds;
    task->handed_in = true;
    if (!task->given_up) finished_.push_back({task, std::move(outcome), seconds, Clock::now()});
    // Waking a dispatcher per finished job costs more than the job when
    // jobs are short: wake it for the first one (it starts the flush
    // timer), once enough are waiting, and when the last executor idles.
    const auto waiting = finished_.size() + pending_successes_.size();
    const bool wake = waiting == 1 || static_cast<int>(waiting) >= WakeThreshold() || busy_ == 0 ||
                      !backlog_ || stopping_;
    if (wake) {
      lk.unlock();
      dispatch_cv_.notify_one();
      lk.lock();
    }
  }
}

HandlerOutcome Worker::RunHandler(Task& task) {
  const Handler* handler = registry_.Find(task.job.kind);
  if (!handler) {
    // Retryable: a newer worker that knows this kind may be rolling out.
    return HandlerOutcome::Retry("no handler for kind '" + task.job.kind + "' on this worker");
  }
  try {
    JobContext ctx{task.job, options_.worker_id, task.cancelled};
    HandlerOutcome outcome = (*handler)(ctx);
    if (outcome.kind == HandlerOutcome::Kind::kSuccess && !core::IsStorableJson(outcome.result)) {
      return HandlerOutcome::Permanent("handler returned a result jsonb cannot store "
                                       "(invalid UTF-8 or a NUL character)");
    }
    return outcome;
  } catch (const std::exception& e) {
    return HandlerOutcome::Retry(std::string("handler threw: ") + e.what());
  } catch (...) {
    return HandlerOutcome::Retry("handler threw a non-standard exception");
  }
}

}  // namespace jobqueue::worker
