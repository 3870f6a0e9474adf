#include "api/db_work_queue.hpp"

#include <unordered_map>

#include <spdlog/spdlog.h>

#include "core/errors.hpp"
#include "core/job_listing.hpp"
#include "core/log.hpp"
#include "core/queue.hpp"

namespace jobqueue::api {
namespace {

std::exception_ptr Refused(const std::string& why) { return std::make_exception_ptr(Transient(why)); }

bool IsTransient(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const Transient&) {
    return true;
  } catch (...) {
    return false;
  }
}

// Callbacks answer HTTP requests; one that throws must not take a worker
// thread (or the other jobs of its batch) down with it.
template <typename F, typename... Args>
void CallQuietly(const F& f, Args&&... args) {
  try {
    f(std::forward<Args>(args)...);
  } catch (const std::exception& e) {
    spdlog::error("{}", core::LogFields("answering a request failed", {{"error", e.what()}}));
  } catch (...) {
    spdlog::error("{}", core::LogFields("answering a request failed", {{"error", "unknown exception"}}));
  }
}

}  // namespace

DbWorkQueue::DbWorkQueue(core::ConnectionPool& pool, core::Metrics* metrics, DbWorkOptions options)
    : pool_(pool), metrics_(metrics), options_(options) {
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { Run(); });
}

DbWorkQueue::~DbWorkQueue() { Stop(); }

void DbWorkQueue::SubmitRead(Work work, Refusal refused) {
  Submit(
      [work](core::pg::Connection& conn) {
        try {
          work(conn);
        } catch (const Transient&) {
          // The failed call dropped the broken session; the retry reconnects.
          work(conn);
        }
      },
      std::move(refused));
}

void DbWorkQueue::Submit(Work work, Refusal refused) {
  bool stopping;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping = stopping_;
    if (!stopping_ && tasks_.size() + jobs_.size() < options_.max_queued) {
      tasks_.push_back({std::move(work), std::move(refused), Clock::now()});
      wake_.notify_one();
      return;
    }
  }
  CallQuietly(refused, Refused(stopping ? "the server is shutting down" : "too many requests wait for the database"));
}

void DbWorkQueue::SubmitEnqueue(JobRequest request, EnqueueDone done) {
  bool stopping;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping = stopping_;
    if (!stopping_ && tasks_.size() + jobs_.size() < options_.max_queued) {
      jobs_.push_back({std::move(request), std::move(done), Clock::now()});
      wake_.notify_one();
      return;
    }
  }
  EnqueueOutcome outcome;
  outcome.error = Refused(stopping ? "the server is shutting down" : "too many requests wait for the database");
  CallQuietly(done, std::move(outcome));
}

void DbWorkQueue::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void DbWorkQueue::Run() {
  for (;;) {
    std::optional<Task> task;
    std::vector<PendingJob> jobs;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !tasks_.empty() || !jobs_.empty(); });
      if (tasks_.empty() && jobs_.empty()) return;  // stopping, and everything queued has run
      const bool take_jobs = !jobs_.empty() && (tasks_.empty() || jobs_turn_);
      jobs_turn_ = !take_jobs;
      if (take_jobs) {
        while (!jobs_.empty() && jobs.size() < options_.max_coalesce) {
          jobs.push_back(std::move(jobs_.front()));
          jobs_.pop_front();
        }
      } else {
        task.emplace(std::move(tasks_.front()));
        tasks_.pop_front();
      }
    }
    if (task) {
      RunTask(*task);
    } else {
      RunJobs(jobs);
    }
  }
}

void DbWorkQueue::RunTask(Task& task) {
  const auto waited = Clock::now() - task.queued_at;
  if (waited > options_.max_wait) {
    CallQuietly(task.refused, Refused("waited too long for a database session"));
    return;
  }
  try {
    auto conn = pool_.Acquire(std::chrono::duration_cast<std::chrono::milliseconds>(options_.max_wait - waited));
    task.work(*conn);
  } catch (...) {
    CallQuietly(task.refused, std::current_exception());
  }
}

void DbWorkQueue::RunJobs(std::vector<PendingJob>& jobs) {
  // Jobs that waited too long are refused; the rest go together.
  const auto now = Clock::now();
  std::vector<PendingJob> ready;
  for (auto& job : jobs) {
    if (now - job.queued_at > options_.max_wait) {
      EnqueueOutcome outcome;
      outcome.error = Refused("waited too long for a database session");
      CallQuietly(job.done, std::move(outcome));
    } else {
      ready.push_back(std::move(job));
    }
  }
  if (ready.empty()) return;
  std::vector<EnqueueOutcome> outcomes(ready.size());
  try {
    auto conn = pool_.Acquire(options_.max_wait);
    try {
      EnqueueTogether(*conn, ready, outcomes);
    } catch (...) {
      const auto error = std::current_exception();
      if (ready.size() == 1 || IsTransient(error)) throw;
      // Something in the batch was refused by the database: one job at a
      // time, so that each gets its own answer.
      for (std::size_t i = 0; i < ready.size(); ++i) {
        std::vector<PendingJob> one;
        one.push_back(std::move(ready[i]));
        std::vector<EnqueueOutcome> out(1);
        try {
          EnqueueTogether(*conn, one, out);
        } catch (...) {
          out[0] = EnqueueOutcome{};
          out[0].error = std::current_exception();
        }
        ready[i] = std::move(one[0]);
        outcomes[i] = std::move(out[0]);
      }
    }
  } catch (...) {
    const auto error = std::current_exception();
    for (auto& outcome : outcomes) {
      outcome = EnqueueOutcome{};
      outcome.error = error;
    }
  }
  for (std::size_t i = 0; i < ready.size(); ++i) CallQuietly(ready[i].done, std::move(outcomes[i]));
}

void DbWorkQueue::EnqueueTogether(core::pg::Connection& conn, std::vector<PendingJob>& jobs,
                                  std::vector<EnqueueOutcome>& outcomes) {
  std::vector<core::NewJob> batch;
  batch.reserve(jobs.size());
  for (auto& pending : jobs) {
    auto job = pending.request.job;
    // Time comes from PostgreSQL: a delay is added to the database's now().
    if (pending.request.delay_seconds) {
      job.run_at = conn.Exec("now_plus_seconds", *pending.request.delay_seconds)[0][0].as<std::string>();
    }
    batch.push_back(std::move(job));
  }
  core::Queue queue(conn, metrics_);
  std::vector<core::EnqueueResult> results;
  if (batch.size() == 1) {
    results.push_back(queue.Enqueue(batch[0]));
  } else {
    results = queue.EnqueueMany(batch);
  }
  std::vector<core::JobId> ids;
  for (std::size_t i = 0; i < results.size(); ++i) {
    outcomes[i].id = results[i].id;
    outcomes[i].created = results[i].created;
    ids.push_back(results[i].id);
  }
  // The jobs are committed: from here on a failure must not turn into an
  // error answer (a client would submit again). Without the read-back the
  // answer carries the id alone.
  try {
    std::unordered_map<core::JobId, core::Job> stored;
    for (auto& job : core::JobListing(conn).GetMany(ids)) stored.emplace(job.id, std::move(job));
    for (auto& outcome : outcomes) {
      auto it = stored.find(outcome.id);
      if (it != stored.end()) outcome.job = it->second;
    }
  } catch (const std::exception& e) {
    spdlog::warn("{}", core::LogFields("reading enqueued jobs back failed", {{"error", e.what()}}));
  }
}

}  // namespace jobqueue::api
