#pragma once
// UploadWaiter: lets POST /upload answer once its job has finished (seed
// 003's contract) without a thread or a database session per waiting
// request. Waiting requests are kept in a list; every `poll` one query reads
// all their jobs through the DbWorkQueue (a session is borrowed for that
// query only), and each request whose job is terminal, or whose deadline has
// passed, is called back once. Thread-safe; owned by ApiService; the work
// queue must outlive it.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "api/db_work_queue.hpp"
#include "core/job.hpp"

namespace jobqueue::api {

class UploadWaiter {
 public:
  using Clock = std::chrono::steady_clock;
  // `job`: the job as last read (nullopt if never read, e.g. the database
  // was down); `timed_out`: the deadline passed before it finished.
  using Done = std::function<void(const std::optional<core::Job>& job, bool timed_out)>;

  UploadWaiter(DbWorkQueue& work, std::chrono::milliseconds poll);
  ~UploadWaiter();
  UploadWaiter(const UploadWaiter&) = delete;
  UploadWaiter& operator=(const UploadWaiter&) = delete;

  // Calls `done` exactly once: when job `id` is succeeded, dead or
  // cancelled, or at `deadline`, or at Stop() (as timed out). May call it on
  // the caller's thread (after Stop), a DbWorkQueue thread, or its own.
  void Wait(core::JobId id, Clock::time_point deadline, Done done);

  // Answers every waiting request as timed out and joins the thread. Idempotent.
  void Stop();

  std::size_t waiting() const;

 private:
  struct Waiter {
    core::JobId id;
    Clock::time_point deadline;
    Done done;
    std::optional<core::Job> last;
  };

  void Run();
  // Called with the ids asked about and the jobs read (none if the read failed).
  void Settle(const std::vector<core::JobId>& asked, const std::vector<core::Job>& jobs, bool read_ok);

  DbWorkQueue& work_;
  const std::chrono::milliseconds poll_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::uint64_t, Waiter> waiters_;
  std::uint64_t next_key_ = 0;
  bool read_in_flight_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace jobqueue::api
