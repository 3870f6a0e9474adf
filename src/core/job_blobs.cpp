#include "core/job_blobs.hpp"

#include <pqxx/binarystring>

#include "core/errors.hpp"
#include "core/metrics.hpp"
#include "core/pg/params.hpp"
#include "core/queue.hpp"

namespace jobqueue::core {
namespace {

using pg::DumpJson;
using pg::OrNull;

// Sent as a binary parameter: no hex escaping of possibly megabytes.
pqxx::binarystring Bytes(std::string_view bytes) { return pqxx::binarystring(bytes.data(), bytes.size()); }

void CheckContentType(const std::string& content_type) {
  if (content_type.empty() || content_type.size() > 128 || !IsStorableText(content_type)) {
    throw InvalidArgument("content_type: 1..128 bytes of text", "content_type");
  }
}

}  // namespace

const char* ToString(BlobRole role) { return role == BlobRole::kInput ? "input" : "output"; }

JobBlobs::JobBlobs(pg::Connection& conn, Metrics* metrics) : conn_(conn), metrics_(metrics) {}

EnqueueResult JobBlobs::EnqueueWithInput(const NewJob& job, const std::string& content_type,
                                         std::string_view bytes) {
  ValidateNewJob(job);
  CheckContentType(content_type);
  if (bytes.empty()) throw InvalidArgument("file: the image is empty", "file");
  const auto rows = conn_.Exec("enqueue_job_with_input", job.kind, DumpJson(job.payload, "payload"), job.queue,
                               job.priority, OrNull(job.run_at), job.max_attempts, OrNull(job.idempotency_key),
                               content_type, Bytes(bytes));
  EnqueueResult result{rows[0]["id"].as<JobId>(), rows[0]["created"].as<bool>()};
  if (metrics_ && result.created) metrics_->JobCreated(job.queue, job.kind);
  return result;
}

WriteResult JobBlobs::CompleteWithOutput(const Lease& lease, const nlohmann::json& result,
                                         const std::string& content_type, std::string_view bytes) {
  CheckContentType(content_type);
  if (lease.token.empty() || !IsStorableText(lease.token)) {
    throw InvalidArgument("lease token: malformed", "lease_token");
  }
  const std::string result_text = DumpJson(result, "result");
  const auto rows = conn_.Exec("complete_job_with_output", lease.job_id, lease.token,
                               result.is_null() ? nullptr : result_text.c_str(), content_type, Bytes(bytes));
  return rows.empty() ? WriteResult::kLeaseLost : WriteResult::kDone;
}

std::optional<JobBlob> JobBlobs::Get(JobId id, BlobRole role, bool with_bytes) {
  // The bytes come by a second statement, in binary format. The stored
  // image never changes once written; it can only vanish with its job.
  const auto rows = conn_.Exec("get_job_blob", id, ToString(role));
  if (rows.empty()) return std::nullopt;
  const auto& row = rows[0];
  JobBlob blob;
  blob.job_state = row["state"].as<std::string>();
  blob.kind = row["kind"].as<std::string>();
  if (!row["lease_owner"].is_null()) blob.lease_owner = row["lease_owner"].as<std::string>();
  if (!row["last_error"].is_null()) blob.last_error = row["last_error"].as<std::string>();
  blob.present = !row["content_type"].is_null();
  if (!blob.present) return blob;
  blob.content_type = row["content_type"].as<std::string>();
  blob.byte_size = row["byte_size"].as<std::int64_t>();
  blob.sha256 = row["sha256"].as<std::string>();
  if (with_bytes) {
    auto bytes = conn_.ExecBinaryField("get_job_blob_bytes", {std::to_string(id), ToString(role)});
    if (!bytes) {
      blob.present = false;  // deleted with its job between the two statements
      return blob;
    }
    blob.bytes = std::move(*bytes);
  }
  return blob;
}

}  // namespace jobqueue::core
