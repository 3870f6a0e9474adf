#pragma once
// Jobs and queue depths as the API's JSON. Keys come in a fixed, readable
// order (id first), so `curl | sed` one-liners and humans find them.
#include <vector>

#include <nlohmann/json.hpp>

#include "core/job.hpp"

namespace jobqueue::api {

// id, queue, kind, state, payload, priority, attempts, max_attempts, run_at,
// created_at, started_at, finished_at, lease_owner, lease_expires_at,
// processed_by (the lease owner once the job finished: the worker, i.e. the
// pod, that processed it), last_error, result, idempotency_key. Absent
// values are null. Timestamps as JobListing returns them (RFC 3339).
nlohmann::ordered_json JobJson(const core::Job& job);

// GET /v1/queues: one entry per queue with its jobs per state, its depth
// (due queued jobs) and the age of its oldest due queued job.
nlohmann::ordered_json QueuesJson(const std::vector<core::QueueDepthRow>& rows);

}  // namespace jobqueue::api
