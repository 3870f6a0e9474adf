#include "api/upload_waiter.hpp"

#include <set>
#include <vector>

#include "core/job_listing.hpp"

namespace jobqueue::api {
namespace {

bool Terminal(core::JobState state) {
  return state == core::JobState::kSucceeded || state == core::JobState::kDead ||
         state == core::JobState::kCancelled;
}

}  // namespace

UploadWaiter::UploadWaiter(DbWorkQueue& work, std::chrono::milliseconds poll)
    : work_(work), poll_(poll), thread_([this] { Run(); }) {}

UploadWaiter::~UploadWaiter() { Stop(); }

void UploadWaiter::Wait(core::JobId id, Clock::time_point deadline, Done done) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_) {
      waiters_.emplace(next_key_++, Waiter{id, deadline, std::move(done), std::nullopt});
      wake_.notify_all();
      return;
    }
  }
  done(std::nullopt, true);
}

std::size_t UploadWaiter::waiting() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return waiters_.size();
}

void UploadWaiter::Stop() {
  std::map<std::uint64_t, Waiter> left;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    left.swap(waiters_);
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& [key, w] : left) w.done(w.last, true);
  // A read still in flight settles against an empty list.
}

void UploadWaiter::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, poll_, [this] { return stopping_; });
    if (stopping_) break;
    // Deadlines hold even while the database is slow to answer a read.
    std::vector<Waiter> expired;
    const auto now = Clock::now();
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (now >= it->second.deadline) {
        expired.push_back(std::move(it->second));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
    if (!expired.empty()) {
      lock.unlock();
      for (auto& w : expired) w.done(w.last, true);
      lock.lock();
    }
    if (waiters_.empty() || read_in_flight_) continue;
    std::vector<core::JobId> ids;
    for (const auto& [key, w] : waiters_) ids.push_back(w.id);
    read_in_flight_ = true;
    lock.unlock();
    work_.Submit(
        [this, ids](core::pg::Connection& conn) { Settle(ids, core::JobListing(conn).GetMany(ids), true); },
        [this, ids](std::exception_ptr) { Settle(ids, {}, false); });
    lock.lock();
  }
}

void UploadWaiter::Settle(const std::vector<core::JobId>& asked, const std::vector<core::Job>& jobs, bool read_ok) {
  const std::set<core::JobId> read(asked.begin(), asked.end());
  std::map<core::JobId, const core::Job*> by_id;
  for (const auto& job : jobs) by_id[job.id] = &job;
  std::vector<std::pair<Waiter, bool>> ready;
  const auto now = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    read_in_flight_ = false;
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      auto& w = it->second;
      const auto found = by_id.find(w.id);
      if (found != by_id.end()) w.last = *found->second;
      const bool finished = w.last && Terminal(w.last->state);
      // A job that vanished (deleted meanwhile) will not finish: answer now.
      // Waiters that arrived after the read was sent were not asked about.
      const bool vanished = read_ok && read.count(w.id) && found == by_id.end();
      if (finished || vanished || now >= w.deadline) {
        ready.emplace_back(std::move(w), !finished);
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& [w, timed_out] : ready) w.done(w.last, timed_out);
}

}  // namespace jobqueue::api
