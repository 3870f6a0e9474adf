#include "core/worker_registry.hpp"

#include <nlohmann/json.hpp>

#include "core/errors.hpp"
#include "core/pg/params.hpp"

namespace jobqueue::core {

void WorkerRegistry::Seen(const WorkerReport& report) {
  if (report.id.empty() || report.id.size() > 253) throw InvalidArgument("worker id: 1 to 253 bytes", "id");
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
    for (const auto& q : nlohmann::json::parse(row["queues_json"].as<std::string>())) w.queues.push_back(q);
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
