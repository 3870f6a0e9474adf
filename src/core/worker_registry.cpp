#include "core/worker_registry.hpp"

#include "core/errors.hpp"
#include "core/pg/params.hpp"
#include "core/queue.hpp"

namespace jobqueue::core {

bool IsValidWorkerId(const std::string& id) {
  return !id.empty() && id.size() <= 253 && IsStorableText(id);
}

void WorkerRegistry::Seen(const WorkerReport& report) {
  if (!IsValidWorkerId(report.id)) throw InvalidArgument("worker id: 1 to 253 bytes of text", "id");
  if (report.concurrency < 1) throw InvalidArgument("concurrency: at least 1", "concurrency");
  conn_.Exec("worker_seen", report.id, pg::TextArray(report.queues), report.concurrency, report.running,
             report.started_at);
}

void WorkerRegistry::Stopped(const std::string& id) { conn_.Exec("worker_stopped", id); }

std::vector<WorkerInfo> WorkerRegistry::List(double within_seconds) {
  std::vector<WorkerInfo> out;
  for (const auto& row : conn_.Exec("list_workers", within_seconds)) {
    WorkerInfo w;
    w.id = row["id"].as<std::string>();
    w.queues = pg::JsonTextArray(row["queues_json"].as<std::string>());
    w.concurrency = row["concurrency"].as<int>();
    w.running = row["running"].as<int>();
    w.started_at = row["started_at"].as<std::string>();
    w.seen_at = row["seen_at"].as<std::string>();
    if (!row["stopped_at"].is_null()) w.stopped_at = row["stopped_at"].as<std::string>();
    w.seen_seconds_ago = row["seen_seconds_ago"].as<double>();
    out.push_back(std::move(w));
  }
  return out;
}

long WorkerRegistry::Prune(double older_than_seconds) {
  return conn_.Exec("prune_workers", older_than_seconds)[0][0].as<long>();
}

}  // namespace jobqueue::core
