#pragma once
// Plain structs for jobs as core reads and writes them.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace jobqueue::core {

using JobId = std::int64_t;

enum class JobState { kQueued, kRunning, kSucceeded, kDead, kCancelled };

// "queued", "running", ... as stored in the jobqueue.job_state enum.
const char* ToString(JobState state);
// Throws InvalidArgument for anything but the five state names.
JobState ParseJobState(const std::string& text);

// What a caller asks to enqueue. Unset fields take the schema defaults.
struct NewJob {
  std::string kind;
  nlohmann::json payload = nlohmann::json::object();
  std::string queue = "default";
  int priority = 0;                            // smaller runs first; -32768..32767
  std::optional<std::string> run_at;           // timestamptz text; unset: now
  int max_attempts = 25;                       // 1..1000
  std::optional<std::string> idempotency_key;  // same key on same queue: same job
};

struct EnqueueResult {
  JobId id = 0;
  bool created = false;  // false: the idempotency key matched an existing job
};

// The proof of holding a job's current attempt; every later write of the
// attempt (heartbeat, complete, fail) must present it.
struct Lease {
  JobId job_id = 0;
  std::string token;  // uuid text
};

// A job as a worker receives it from a claim.
struct ClaimedJob {
  Lease lease;
  std::string queue;
  std::string kind;
  nlohmann::json payload;
  int priority = 0;
  int attempt = 0;  // 1 on the first run
  int max_attempts = 0;
  std::string lease_expires_at;
};

// A job as an operator or the API reads it.
struct Job {
  JobId id = 0;
  std::string queue;
  std::string kind;
  nlohmann::json payload;
  JobState state = JobState::kQueued;
  int priority = 0;
  std::string run_at;
  int attempts = 0;
  int max_attempts = 0;
  std::optional<std::string> lease_owner;
  std::optional<std::string> lease_expires_at;
  std::optional<std::string> idempotency_key;
  std::optional<std::string> last_error;
  std::optional<nlohmann::json> result;
  std::string created_at;
  std::optional<std::string> started_at;
  std::optional<std::string> finished_at;
};

enum class WriteResult { kDone, kLeaseLost };

struct FailResult {
  WriteResult write = WriteResult::kDone;
  JobState new_state = JobState::kQueued;  // kQueued (will retry) or kDead
  std::string run_at;                      // when it runs again, if queued
};

struct QueueDepthRow {
  std::string queue;
  std::string state;
  std::int64_t jobs = 0;
  std::int64_t due = 0;
  std::optional<double> oldest_queued_seconds;
  std::int64_t finished_last_minute = 0;  // jobs that reached `state` in the last minute
};

}  // namespace jobqueue::core
