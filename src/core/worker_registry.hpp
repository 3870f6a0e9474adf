#pragma once
// WorkerRegistry: the jobqueue.workers table (schema 6), where each worker
// process reports itself a few times a minute, for the dashboard and
// GET /v1/workers. Reporting is one small upsert on a table of its own:
// nothing on jobqueue.jobs, so it costs the queue nothing. Uses a
// Connection it does not own; one thread at a time.
#include <optional>
#include <string>
#include <vector>

#include "core/pg/connection.hpp"

namespace jobqueue::core {

struct WorkerReport {
  std::string id;                   // WORKER_ID: the pod name on Kubernetes
  std::vector<std::string> queues;
  int concurrency = 1;
  int running = 0;                  // jobs running now
  std::string started_at;           // this process's start, timestamptz text
};

struct WorkerInfo {
  std::string id;
  std::vector<std::string> queues;
  int concurrency = 0;
  int running = 0;
  std::string started_at;           // RFC 3339 text as PostgreSQL prints it
  std::string seen_at;
  std::optional<std::string> stopped_at;  // set once it drained and exited
  double seen_seconds_ago = 0;
};

// A worker id keys its row: 1 to 253 bytes (a pod name's bound) of text
// without NUL.
bool IsValidWorkerId(const std::string& id);

class WorkerRegistry {
 public:
  explicit WorkerRegistry(pg::Connection& conn) : conn_(conn) {}

  // Upserts the worker's row (and clears stopped_at: a restart under the
  // same id is the same worker again).
  void Seen(const WorkerReport& report);
  // Marks the worker stopped, with nothing running.
  void Stopped(const std::string& id);
  // The workers seen in the last `within_seconds`, by id.
  std::vector<WorkerInfo> List(double within_seconds);
  // Deletes the workers not seen for `older_than_seconds`; returns how many.
  long Prune(double older_than_seconds);

 private:
  pg::Connection& conn_;
};

}  // namespace jobqueue::core
