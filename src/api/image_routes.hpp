#pragma once
// ImageRoutes: the routes that take or give image bytes. POST /v1/images
// (multipart or a raw body), GET /v1/jobs/{id}/result and /input, and the
// seeds' aliases POST /submit (seed 000), POST /upload (seed 003, answers
// once the job is done) and GET /image/{id}. Every check that can refuse an
// upload (size, type by magic bytes, pixel count from the header, ops, the
// job's fields) runs before anything is written; the bytes and their job are
// then written in one statement. Thread-safe; owned by ApiService, which
// also owns the work queue this uses.
#include <memory>
#include <string>

#include "api/api_config.hpp"
#include "api/db_work_queue.hpp"
#include "api/upload_waiter.hpp"
#include "core/job_blobs.hpp"

namespace jobqueue::core {
class Metrics;
}

namespace jobqueue::api {

class Exchange;

class ImageRoutes {
 public:
  ImageRoutes(const ApiConfig& config, DbWorkQueue& work, core::Metrics& metrics);

  void SubmitImage(const std::shared_ptr<Exchange>& ex);   // POST /v1/images
  void SeedSubmit(const std::shared_ptr<Exchange>& ex);    // POST /submit
  void SeedUpload(const std::shared_ptr<Exchange>& ex);    // POST /upload
  // GET /v1/jobs/{id}/result, /input, /image/{id}: the bytes with their
  // content type and ETag (304 for a matching If-None-Match); 404 with the
  // job's state when there is no such image (yet).
  void GetImage(const std::shared_ptr<Exchange>& ex, core::JobId id, core::BlobRole role);

  // Answers waiting uploads and stops waiting. Before the work queue stops.
  void Stop();

  // For POST /v1/jobs and batches: a job of an image kind must have a valid
  // payload with an image_url (bytes come through POST /v1/images). Throws
  // InvalidArgument naming `prefix` + "payload". Other kinds pass.
  static void CheckImageJob(const core::NewJob& job, const std::string& prefix = "");

 private:
  struct Upload;
  // Reads and checks an upload from a multipart or raw body; `seed` allows
  // the `effects` field (seed 003). Moves the bytes out of ex.body.
  std::shared_ptr<Upload> ReadUpload(Exchange& ex, bool seed_upload) const;
  // Stores the upload with its job; `then` runs on a database thread.
  void Store(const std::shared_ptr<Exchange>& ex, std::shared_ptr<Upload> upload,
             std::function<void(core::EnqueueResult)> then);

  const ApiConfig& config_;
  DbWorkQueue& work_;
  core::Metrics& metrics_;
  UploadWaiter waiter_;
};

}  // namespace jobqueue::api
