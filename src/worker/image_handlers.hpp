#pragma once
// ImageHandlers: the image job kinds (image.thumbnail, image.blur,
// image.grayscale, image.pipeline). A run reads its input (the bytes stored
// with the job, or the payload's image_url fetched with libcurl), processes
// it with src/images/, and hands the output to the worker, which stores it
// with the completion under the attempt's lease. Every bad input (payload,
// URL, image) is a permanent failure on the first attempt; a database or
// network hiccup is retryable. Owned by main; must outlive the Worker whose
// registry holds its handlers. Thread-safe.
#include <string>

#include "core/connection_pool.hpp"
#include "fetch/url_fetcher.hpp"
#include "images/pipeline.hpp"
#include "worker/handlers.hpp"

namespace jobqueue::core {
class Metrics;
}

namespace jobqueue::worker {

struct ImageHandlerOptions {
  std::string dsn;                // where the stored inputs are (the worker's database)
  int sessions = 2;               // sessions reading inputs (executors share them)
  images::ProcessLimits limits;   // MAX_IMAGE_PIXELS
  fetch::FetchOptions fetch;      // IMAGE_FETCH_MAX_BYTES, _TIMEOUT_SECONDS, _ALLOW_PRIVATE
};

class ImageHandlers {
 public:
  // `metrics` may be null; when given it must outlive this object.
  ImageHandlers(ImageHandlerOptions options, core::Metrics* metrics);
  ImageHandlers(const ImageHandlers&) = delete;
  ImageHandlers& operator=(const ImageHandlers&) = delete;

  // Registers the four image kinds; they call back into this object.
  void Register(HandlerRegistry& registry);

  // Runs one image job (what the registered handlers call).
  HandlerOutcome Run(const JobContext& ctx);

 private:
  // The input bytes, or an outcome saying why there are none.
  HandlerOutcome ReadInput(const JobContext& ctx, const std::optional<std::string>& image_url, std::string* input);

  const ImageHandlerOptions options_;
  core::Metrics* metrics_;
  core::ConnectionPool pool_;
};

}  // namespace jobqueue::worker
