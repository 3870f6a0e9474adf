#include "worker/image_handlers.hpp"

#include <chrono>
#include <cmath>

#include <spdlog/spdlog.h>

#include "core/errors.hpp"
#include "core/job_blobs.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "images/image_job.hpp"

namespace jobqueue::worker {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double Rounded(double seconds) { return std::round(seconds * 1e6) / 1e6; }

// Image jobs are slow enough (milliseconds to seconds) that one line each
// at start and end costs nothing, and it is what an operator tailing a
// worker's log wants to see, as seed 000's workers print "Received Job ID".
nlohmann::json ImageJobFields(const JobContext& ctx) {
  return {{"job_id", ctx.job.lease.job_id}, {"worker_id", ctx.worker_id}, {"kind", ctx.job.kind},
          {"attempt", ctx.job.attempt}};
}

}  // namespace

ImageHandlers::ImageHandlers(ImageHandlerOptions options, core::Metrics* metrics)
    : options_(std::move(options)), metrics_(metrics), pool_(options_.dsn, std::max(1, options_.sessions)) {
  fetch::InitFetching();
}

void ImageHandlers::Register(HandlerRegistry& registry) {
  for (const char* kind : {"image.thumbnail", "image.blur", "image.grayscale", "image.pipeline"}) {
    registry.Register(kind, [this](const JobContext& ctx) { return Run(ctx); });
  }
}

HandlerOutcome ImageHandlers::ReadInput(const JobContext& ctx, const std::optional<std::string>& image_url,
                                        std::string* input) {
  if (image_url) {
    const auto started = Clock::now();
    try {
      *input = fetch::FetchUrl(*image_url, options_.fetch, &ctx.cancelled).bytes;
    } catch (const fetch::FetchError& e) {
      const std::string error = std::string("image_url: ") + e.what();
      return e.retryable() ? HandlerOutcome::Retry(error) : HandlerOutcome::Permanent(error);
    }
    if (metrics_) metrics_->ImageStage("fetch", Since(started));
    if (input->empty()) return HandlerOutcome::Permanent("image_url: the server sent an empty body");
    return HandlerOutcome::Success();
  }
  try {
    auto session = pool_.Acquire(std::chrono::seconds(10));
    auto blob = core::JobBlobs(*session).Get(ctx.job.lease.job_id, core::BlobRole::kInput, true);
    if (!blob || !blob->present) {
      return HandlerOutcome::Permanent(
          "no input image stored for this job: upload one with POST /v1/images, or give payload.image_url");
    }
    *input = std::move(blob->bytes);
  } catch (const Transient& e) {
    return HandlerOutcome::Retry(std::string("reading the input image: ") + e.what());
  }
  return HandlerOutcome::Success();
}

HandlerOutcome ImageHandlers::Run(const JobContext& ctx) {
  images::ImageJobSpec spec;
  try {
    spec = images::ParseImageJob(ctx.job.kind, ctx.job.payload);
  } catch (const images::ImageError& e) {
    return HandlerOutcome::Permanent(e.what());
  }
  auto fields = ImageJobFields(ctx);
  fields["ops"] = spec.ops.ToString();
  if (spec.image_url) fields["image_url"] = *spec.image_url;
  spdlog::info("{}", core::LogFields("image job received", fields));
  std::string input;
  auto read = ReadInput(ctx, spec.image_url, &input);
  if (read.kind != HandlerOutcome::Kind::kSuccess) return read;
  if (ctx.Cancelled()) return HandlerOutcome::Retry("cancelled before processing");

  images::ProcessedImage out;
  try {
    out = images::ProcessImage(input, spec.ops, options_.limits);
  } catch (const images::ImageError& e) {
    return HandlerOutcome::Permanent(e.what());
  }
  if (metrics_) {
    metrics_->ImageBytes("in", static_cast<double>(input.size()));
    metrics_->ImageBytes("out", static_cast<double>(out.bytes.size()));
    for (const auto& [stage, seconds] : out.stage_seconds) metrics_->ImageStage(stage, seconds);
  }
  const std::string content_type = images::ContentType(out.format);
  nlohmann::json result = {
      {"width", out.width},
      {"height", out.height},
      {"format", images::FormatName(out.format)},
      {"content_type", content_type},
      {"bytes", out.bytes.size()},
      {"ops", spec.ops.ToJson()},
      {"input", {{"width", out.input.width},
                 {"height", out.input.height},
                 {"format", images::FormatName(out.input.format)},
                 {"bytes", input.size()}}},
      {"processing_seconds", Rounded(out.seconds)},
      {"processed_by", ctx.worker_id},
  };
  if (spec.image_url) result["image_url"] = *spec.image_url;
  auto done = ImageJobFields(ctx);
  done["seconds"] = Rounded(out.seconds);
  done["output_bytes"] = out.bytes.size();
  spdlog::info("{}", core::LogFields("image job processed", done));
  return HandlerOutcome::SuccessWithOutput(std::move(result), OutputBlob{content_type, std::move(out.bytes)});
}

}  // namespace jobqueue::worker
