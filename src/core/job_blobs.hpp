#pragma once
// JobBlobs: the bytes of image jobs (their uploaded input and the output an
// attempt made) in jobqueue.job_blobs, beside the jobs table and never in
// it. Every write is one statement: an upload stores its bytes with its job,
// and an output is stored only by the statement that completes the attempt
// under its lease. Uses a Connection it does not own; one thread at a time.
#include <optional>
#include <string>
#include <string_view>

#include "core/job.hpp"
#include "core/pg/connection.hpp"

namespace jobqueue::core {

class Metrics;

enum class BlobRole { kInput, kOutput };
const char* ToString(BlobRole role);  // "input", "output"

// A job as the image routes need it, with one of its images.
struct JobBlob {
  std::string job_state;                 // "queued", "running", "succeeded", ...
  std::string kind;
  std::optional<std::string> lease_owner;
  std::optional<std::string> last_error;
  bool present = false;                  // false: the job has no image of this role
  std::string content_type;
  std::int64_t byte_size = 0;
  std::string sha256;                    // hex digest of the bytes
  std::string bytes;                     // empty unless asked for
};

class JobBlobs {
 public:
  // `metrics` may be null; when given it must outlive this object.
  explicit JobBlobs(pg::Connection& conn, Metrics* metrics = nullptr);

  // Validates and enqueues `job` with its input image in one transaction.
  // With an idempotency key already used, stores nothing and returns the
  // existing job with created = false. Throws InvalidArgument naming a field.
  EnqueueResult EnqueueWithInput(const NewJob& job, const std::string& content_type, std::string_view bytes);

  // Completes the attempt holding `lease` with `result` and stores `bytes`
  // as its output, atomically. kLeaseLost: nothing at all was written.
  WriteResult CompleteWithOutput(const Lease& lease, const nlohmann::json& result,
                                 const std::string& content_type, std::string_view bytes);

  // Job `id` with its image of `role`; the bytes only if `with_bytes`.
  // nullopt: no such job.
  std::optional<JobBlob> Get(JobId id, BlobRole role, bool with_bytes);

 private:
  pg::Connection& conn_;
  Metrics* metrics_;
};

}  // namespace jobqueue::core
