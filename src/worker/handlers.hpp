#pragma once
// Job handlers: what a worker runs for each `kind`. A handler gets the job
// and a context it can poll for cancellation (lease lost, timeout, shutdown)
// and returns an outcome; a thrown exception counts as a retryable error.
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/job.hpp"

namespace jobqueue::worker {

// Bytes a successful attempt stores beside its result (an image job's
// output), written by the same statement that completes the attempt.
struct OutputBlob {
  std::string content_type;
  std::string bytes;
};

struct HandlerOutcome {
  enum class Kind { kSuccess, kRetryableError, kPermanentError };
  Kind kind = Kind::kSuccess;
  nlohmann::json result;  // on success: stored in jobs.result (null: none)
  std::string error;      // on error: stored in jobs.last_error
  std::optional<OutputBlob> output;  // on success: stored in jobqueue.job_blobs

  static HandlerOutcome Success(nlohmann::json result = nullptr) {
    return {Kind::kSuccess, std::move(result), {}, std::nullopt};
  }
  static HandlerOutcome SuccessWithOutput(nlohmann::json result, OutputBlob output) {
    return {Kind::kSuccess, std::move(result), {}, std::move(output)};
  }
  static HandlerOutcome Retry(std::string error) {
    return {Kind::kRetryableError, nullptr, std::move(error), std::nullopt};
  }
  static HandlerOutcome Permanent(std::string error) {
    return {Kind::kPermanentError, nullptr, std::move(error), std::nullopt};
  }
};

// What a running handler may look at. The worker owns it for the run.
struct JobContext {
  const core::ClaimedJob& job;
  const std::string& worker_id;
  // Set when the worker gives up on this run (lease lost, timed out, shut
  // down past the grace period). Long handlers should poll it and return.
  const std::atomic<bool>& cancelled;

  bool Cancelled() const { return cancelled.load(std::memory_order_relaxed); }
  // Sleeps up to `seconds`, waking early on cancellation. False if cancelled.
  bool SleepFor(double seconds) const;
};

using Handler = std::function<HandlerOutcome(const JobContext&)>;

// Handlers by kind. Filled before the worker starts, read-only afterwards.
class HandlerRegistry {
 public:
  void Register(const std::string& kind, Handler handler);
  // Null when no handler is registered for `kind`.
  const Handler* Find(const std::string& kind) const;

 private:
  std::map<std::string, Handler> handlers_;
};

// The built-in kinds:
//   noop   succeeds at once, without a result.
//   sleep  payload {"seconds": s} (0..86400): sleeps, then succeeds with
//          {"slept_seconds": s}. The seeds' artificial delay.
//   fail   payload {"permanent": bool, "message": text}: fails the attempt,
//          retryable unless permanent. For tests and drills.
void RegisterBuiltinHandlers(HandlerRegistry& registry);

}  // namespace jobqueue::worker
