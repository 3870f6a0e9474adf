#include "core/job_listing.hpp"

#include <unordered_map>

#include "core/errors.hpp"
#include "core/pg/params.hpp"

namespace jobqueue::core {
namespace {

std::optional<std::string> OptionalText(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::string>();
}

std::string IdArray(const std::vector<JobId>& ids) {
  std::string out = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  return out + "}";
}

using pg::OrNull;

}  // namespace

Job JobFromRow(const pqxx::row& row) {
  Job job;
  job.id = row["id"].as<JobId>();
  job.queue = row["queue"].as<std::string>();
  job.kind = row["kind"].as<std::string>();
  job.payload = nlohmann::json::parse(row["payload"].c_str());
  job.state = ParseJobState(row["state"].as<std::string>());
  job.priority = row["priority"].as<int>();
  job.run_at = row["run_at"].as<std::string>();
  job.attempts = row["attempts"].as<int>();
  job.max_attempts = row["max_attempts"].as<int>();
  job.lease_owner = OptionalText(row["lease_owner"]);
  job.lease_expires_at = OptionalText(row["lease_expires_at"]);
  job.idempotency_key = OptionalText(row["idempotency_key"]);
  job.last_error = OptionalText(row["last_error"]);
  if (!row["result"].is_null()) job.result = nlohmann::json::parse(row["result"].c_str());
  job.created_at = row["created_at"].as<std::string>();
  job.started_at = OptionalText(row["started_at"]);
  job.finished_at = OptionalText(row["finished_at"]);
  return job;
}

std::optional<Job> JobListing::Get(JobId id) {
  auto jobs = GetMany({id});
  if (jobs.empty()) return std::nullopt;
  return std::move(jobs[0]);
}

std::vector<Job> JobListing::GetMany(const std::vector<JobId>& ids) {
  if (ids.empty()) return {};
  const auto rows = conn_.Exec("api_get_jobs", IdArray(ids));
  std::unordered_map<JobId, Job> by_id;
  for (const auto& row : rows) {
    Job job = JobFromRow(row);
    by_id.emplace(job.id, std::move(job));
  }
  std::vector<Job> out;
  out.reserve(ids.size());
  for (JobId id : ids) {
    auto it = by_id.find(id);
    if (it != by_id.end()) out.push_back(it->second);
  }
  return out;
}

JobPage JobListing::List(const JobFilter& filter) {
  if (filter.limit < 1 || filter.limit > 1000) {
    throw InvalidArgument("limit: must be between 1 and 1000", "limit");
  }
  std::optional<std::string> state;
  if (filter.state) state = ToString(*filter.state);
  std::optional<std::string> before;
  if (filter.before_id) before = std::to_string(*filter.before_id);
  // One row more than asked tells whether another page exists.
  const auto rows = conn_.Exec("api_list_jobs", OrNull(state), OrNull(filter.queue), OrNull(filter.kind),
                               OrNull(before), filter.limit + 1);
  JobPage page;
  const auto total = static_cast<std::size_t>(rows.size());
  const auto n = std::min<std::size_t>(total, static_cast<std::size_t>(filter.limit));
  page.jobs.reserve(n);
  for (std::size_t i = 0; i < n; ++i) page.jobs.push_back(JobFromRow(rows[static_cast<int>(i)]));
  if (total > n && !page.jobs.empty()) page.next = page.jobs.back().id;
  return page;
}

std::map<std::string, std::int64_t> JobListing::DueDepth() {
  std::map<std::string, std::int64_t> out;
  for (const auto& row : conn_.Exec("api_due_depth")) {
    out[row["queue"].as<std::string>()] = row["depth"].as<std::int64_t>();
  }
  return out;
}

std::vector<ThroughputBucket> JobListing::Throughput(int seconds, const std::optional<std::string>& queue) {
  if (seconds < 10 || seconds > 900) throw InvalidArgument("seconds: must be between 10 and 900", "seconds");
  std::vector<ThroughputBucket> out;
  for (const auto& row : conn_.Exec("api_throughput", seconds, OrNull(queue))) {
    out.push_back({row["at"].as<std::string>(), row["succeeded"].as<std::int64_t>(), row["dead"].as<std::int64_t>(),
                   row["cancelled"].as<std::int64_t>()});
  }
  return out;
}

ErrorGroups JobListing::DeadErrors(const std::optional<std::string>& queue, const std::optional<std::string>& kind,
                                   int scan_limit) {
  ErrorGroups out;
  for (const auto& row : conn_.Exec("api_dead_errors", OrNull(queue), OrNull(kind), scan_limit)) {
    ErrorGroup g;
    g.error = row["error"].as<std::string>();
    g.jobs = row["jobs"].as<std::int64_t>();
    g.kinds = pg::JsonTextArray(row["kinds_json"].as<std::string>());
    g.queues = pg::JsonTextArray(row["queues_json"].as<std::string>());
    g.latest_id = row["latest_id"].as<JobId>();
    g.latest_finished_at = row["latest_finished_at"].as<std::string>();
    out.scanned = row["scanned"].as<std::int64_t>();
    out.total = row["total"].as<std::int64_t>();
    out.groups.push_back(std::move(g));
  }
  out.complete = out.scanned == out.total;
  return out;
}

}  // namespace jobqueue::core
