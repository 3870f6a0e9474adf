#include "api/job_json.hpp"

#include <map>

namespace jobqueue::api {
namespace {

template <typename T>
nlohmann::ordered_json OrNull(const std::optional<T>& value) {
  if (!value) return nullptr;
  return *value;
}

bool Finished(core::JobState state) {
  return state == core::JobState::kSucceeded || state == core::JobState::kDead ||
         state == core::JobState::kCancelled;
}

}  // namespace

nlohmann::ordered_json JobJson(const core::Job& job) {
  nlohmann::ordered_json out;
  out["id"] = job.id;
  out["queue"] = job.queue;
  out["kind"] = job.kind;
  out["state"] = core::ToString(job.state);
  out["payload"] = job.payload;
  out["priority"] = job.priority;
  out["attempts"] = job.attempts;
  out["max_attempts"] = job.max_attempts;
  out["run_at"] = job.run_at;
  out["created_at"] = job.created_at;
  out["started_at"] = OrNull(job.started_at);
  out["finished_at"] = OrNull(job.finished_at);
  out["lease_owner"] = OrNull(job.lease_owner);
  out["lease_expires_at"] = OrNull(job.lease_expires_at);
  out["processed_by"] = Finished(job.state) ? OrNull(job.lease_owner) : nullptr;
  out["last_error"] = OrNull(job.last_error);
  out["result"] = job.result ? nlohmann::ordered_json(*job.result) : nlohmann::ordered_json(nullptr);
  out["idempotency_key"] = OrNull(job.idempotency_key);
  return out;
}

nlohmann::ordered_json QueuesJson(const std::vector<core::QueueDepthRow>& rows) {
  static const char* const kStates[] = {"queued", "running", "succeeded", "dead", "cancelled"};
  std::map<std::string, nlohmann::ordered_json> by_queue;
  for (const auto& row : rows) {
    auto& q = by_queue[row.queue];
    if (q.is_null()) {
      q["queue"] = row.queue;
      q["depth"] = 0;
      q["oldest_queued_age_seconds"] = nullptr;
      q["succeeded_last_minute"] = 0;
      q["dead_last_minute"] = 0;
      nlohmann::ordered_json states;
      for (const char* s : kStates) states[s] = 0;
      q["states"] = states;
    }
    q["states"][row.state] = row.jobs;
    if (row.state == "succeeded") q["succeeded_last_minute"] = row.finished_last_minute;
    if (row.state == "dead") q["dead_last_minute"] = row.finished_last_minute;
    if (row.state == "queued") {
      q["depth"] = row.due;
      if (row.oldest_queued_seconds) q["oldest_queued_age_seconds"] = *row.oldest_queued_seconds;
    }
  }
  auto queues = nlohmann::ordered_json::array();
  for (auto& [name, q] : by_queue) queues.push_back(std::move(q));
  return {{"queues", queues}};
}

}  // namespace jobqueue::api
