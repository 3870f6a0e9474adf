#include "api/image_routes.hpp"

#include <set>

#include <spdlog/spdlog.h>

#include "api/api_error.hpp"
#include "api/api_service.hpp"
#include "api/multipart.hpp"
#include "api/request_validation.hpp"
#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/queue.hpp"
#include "fetch/url_fetcher.hpp"
#include "images/image_job.hpp"
#include "images/image_meta.hpp"
#include "images/ops.hpp"

namespace jobqueue::api {
namespace {

using ExchangePtr = std::shared_ptr<Exchange>;
using Clock = std::chrono::steady_clock;

constexpr const char* kImageKind = "image.pipeline";
// Seed 000's answer when no ops are given: a 256x256 thumbnail.
constexpr const char* kDefaultSubmitOps = "thumbnail:256x256";

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The media type of a Content-Type value, lowercased, without parameters.
std::string MediaType(const std::optional<std::string>& content_type) {
  if (!content_type) return "";
  std::string type = Lower(content_type->substr(0, content_type->find(';')));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.pop_back();
  return type;
}

std::int64_t ParseInteger(const std::string& text, const std::string& field) {
  std::size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || text[0] == '+' || text[0] == ' ') {
    throw InvalidArgument(field + ": must be an integer", field);
  }
  return value;
}

// A name for the record: the base name, printable, at most 255 bytes.
std::string CleanFilename(const std::string& name) {
  std::string base = name.substr(name.find_last_of("/\\") == std::string::npos ? 0 : name.find_last_of("/\\") + 1);
  if (base.size() > 255) base.resize(255);
  if (!core::IsStorableText(base)) return "";
  for (char c : base) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "";
  }
  return base;
}

std::string ViewUrl(core::JobId id) { return "/image/" + std::to_string(id); }

nlohmann::ordered_json Accepted(core::JobId id, const std::string& state) {
  return {{"id", id},
          {"state", state},
          {"view_url", ViewUrl(id)},
          {"result_url", "/v1/jobs/" + std::to_string(id) + "/result"},
          {"status_url", "/v1/jobs/" + std::to_string(id)}};
}

}  // namespace

struct ImageRoutes::Upload {
  core::NewJob job;
  std::string content_type;  // from the magic bytes
  std::string bytes;
  images::ImageMeta meta;
  images::OpList ops;
  std::vector<std::string> effects;  // seed 003's names, as given
};

ImageRoutes::ImageRoutes(const ApiConfig& config, DbWorkQueue& work, core::Metrics& metrics)
    : config_(config),
      work_(work),
      metrics_(metrics),
      waiter_(work, std::chrono::milliseconds(static_cast<long long>(config.upload_poll_seconds * 1000))) {}

void ImageRoutes::Stop() { waiter_.Stop(); }

void ImageRoutes::CheckImageJob(const core::NewJob& job, const std::string& prefix) {
  if (!images::IsImageKind(job.kind)) return;
  images::ImageJobSpec spec;
  try {
    spec = images::ParseImageJob(job.kind, job.payload);
  } catch (const images::ImageError& e) {
    throw InvalidArgument(e.what(), prefix + "payload");
  }
  if (!spec.image_url) {
    throw InvalidArgument("payload.image_url: an image job sent as JSON needs image_url; upload image bytes "
                          "with POST /v1/images",
                          prefix + "payload");
  }
  try {
    fetch::ValidateUrl(*spec.image_url);
  } catch (const fetch::FetchError& e) {
    throw InvalidArgument(std::string("payload.image_url: ") + e.what(), prefix + "payload");
  }
}

std::shared_ptr<ImageRoutes::Upload> ImageRoutes::ReadUpload(Exchange& ex, bool seed_upload) const {
  // Fields from the form or the query string, by name.
  std::map<std::string, std::string> fields;
  std::size_t file_begin = 0, file_end = 0;
  std::string filename;
  const std::string type = MediaType(ex.content_type);
  const std::set<std::string> known = {"file", "ops", "effects", "queue", "priority", "idempotency_key",
                                       "max_attempts"};
  if (type == "multipart/form-data") {
    const std::string boundary = MultipartBoundary(*ex.content_type);
    const auto parts = ParseMultipart(ex.body, boundary);
    bool have_file = false;
    for (const auto& part : parts) {
      if (!known.count(part.name)) {
        throw InvalidArgument("form field '" + part.name.substr(0, 64) + "' is not known (expected file, ops, "
                              "effects, queue, priority, idempotency_key, max_attempts)",
                              part.name.substr(0, 64));
      }
      if (part.name == "file") {
        if (have_file) throw InvalidArgument("file: send one file per upload", "file");
        have_file = true;
        file_begin = static_cast<std::size_t>(part.data.data() - ex.body.data());
        file_end = file_begin + part.data.size();
        if (part.filename) filename = CleanFilename(*part.filename);
        continue;
      }
      if (fields.count(part.name)) throw InvalidArgument(part.name + ": given twice", part.name);
      fields[part.name] = std::string(part.data);
    }
    if (!have_file) throw InvalidArgument("file: the form has no file field (curl -F file=@photo.jpg)", "file");
  } else {
    if (!type.empty() && type != "application/octet-stream" && type.rfind("image/", 0) != 0) {
      throw HttpError({415, "unsupported_media_type",
                       "send the image as multipart/form-data (field file) or as the raw body with an image/* "
                       "or application/octet-stream Content-Type, not " + type.substr(0, 100),
                       "Content-Type"});
    }
    for (const auto& [key, value] : ex.query) {
      const std::string name = UrlDecode(key, "query");
      if (name == "file" || !known.count(name)) {
        throw InvalidArgument("query parameter '" + name.substr(0, 64) + "' is not known (expected ops, effects, "
                              "queue, priority, idempotency_key, max_attempts)",
                              name.substr(0, 64));
      }
      if (fields.count(name)) throw InvalidArgument(name + ": given twice", name);
      fields[name] = UrlDecode(value, name);
    }
    file_begin = 0;
    file_end = ex.body.size();
  }
  if (!seed_upload && fields.count("effects") && fields.count("ops")) {
    throw InvalidArgument("give either ops or effects, not both", "ops");
  }

  const std::size_t file_size = file_end - file_begin;
  if (file_size > config_.max_upload_bytes) {
    throw HttpError({413, "payload_too_large",
                     "the image is " + std::to_string(file_size) + " bytes; MAX_UPLOAD_BYTES is " +
                         std::to_string(config_.max_upload_bytes),
                     "file"});
  }
  if (file_size == 0) throw InvalidArgument("file: the upload is empty", "file");

  auto upload = std::make_shared<Upload>();
  const std::string_view file(ex.body.data() + file_begin, file_size);
  // Type by magic bytes (415), then pixels from the header (413).
  upload->meta = images::ReadImageMetaWithin(file, config_.max_image_pixels);
  upload->content_type = images::ContentType(upload->meta.format);

  auto& ops = upload->ops;
  try {
    if (fields.count("effects")) {
      ops = images::ParseEffects(fields["effects"], &upload->effects);
    } else if (fields.count("ops")) {
      ops = images::ParseOps(fields["ops"]);
    }
  } catch (const images::ImageError& e) {
    const std::string field = fields.count("effects") ? "effects" : "ops";
    throw InvalidArgument(field + ": " + e.what(), field);
  }

  // The job's own fields go through the same validation as POST /v1/jobs.
  nlohmann::json payload = {{"ops", ops.ToString()}};
  if (!filename.empty()) payload["filename"] = filename;
  if (!upload->effects.empty()) payload["effects"] = upload->effects;
  nlohmann::json request = {{"kind", kImageKind}, {"payload", payload}};
  if (fields.count("queue")) request["queue"] = fields["queue"];
  if (fields.count("idempotency_key")) request["idempotency_key"] = fields["idempotency_key"];
  if (fields.count("priority")) request["priority"] = ParseInteger(fields["priority"], "priority");
  if (fields.count("max_attempts")) request["max_attempts"] = ParseInteger(fields["max_attempts"], "max_attempts");
  upload->job = ParseJobRequest(request).job;
  core::ValidateNewJob(upload->job);

  // The file's bytes become the upload without a copy: cut the body down.
  ex.body.resize(file_end);
  ex.body.erase(0, file_begin);
  upload->bytes = std::move(ex.body);
  ex.body.clear();
  return upload;
}

void ImageRoutes::Store(const ExchangePtr& ex, std::shared_ptr<Upload> upload,
                        std::function<void(core::EnqueueResult)> then) {
  work_.Submit(
      [this, ex, upload, then](core::pg::Connection& conn) {
        const auto result =
            core::JobBlobs(conn, &metrics_).EnqueueWithInput(upload->job, upload->content_type, upload->bytes);
        ex->job_id = result.id;
        then(result);
      },
      [ex](std::exception_ptr error) { ex->Fail(error); });
}

void ImageRoutes::SubmitImage(const ExchangePtr& ex) {
  auto upload = ReadUpload(*ex, false);
  Store(ex, upload, [ex, upload](core::EnqueueResult result) {
    auto body = Accepted(result.id, result.created ? "queued" : "existing");
    // An existing job (same idempotency key) was made from another request:
    // describing this one would mislead.
    if (result.created) {
      body["ops"] = upload->ops.ToJson();
      body["input"] = {{"format", images::FormatName(upload->meta.format)},
                       {"width", upload->meta.width},
                       {"height", upload->meta.height},
                       {"bytes", upload->bytes.size()}};
    }
    ex->ReplyJson(result.created ? 202 : 200, body, {{"Location", "/v1/jobs/" + std::to_string(result.id)}});
  });
}

void ImageRoutes::SeedUpload(const ExchangePtr& ex) {
  auto upload = ReadUpload(*ex, true);
  const auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<long long>(config_.upload_wait_seconds * 1000));
  Store(ex, upload, [this, ex, upload, deadline](core::EnqueueResult result) {
    const core::JobId id = result.id;
    auto answer = [ex, upload, id](const std::optional<core::Job>& job, bool timed_out) {
      nlohmann::ordered_json body = {{"id", id},
                                     {"applied_effects", upload->effects},
                                     {"processed_by_pod", nullptr},
                                     {"view_url", ViewUrl(id)},
                                     {"state", job ? core::ToString(job->state) : "queued"}};
      if (!timed_out && job && job->state == core::JobState::kSucceeded) {
        body["processed_by_pod"] = job->lease_owner ? nlohmann::ordered_json(*job->lease_owner) : nullptr;
        return ex->ReplyJson(200, body);
      }
      if (!timed_out && job) {
        return ex->Reply(422, ErrorBody({422, "image_failed",
                                         "job " + std::to_string(id) + " ended " + core::ToString(job->state) +
                                             (job->last_error ? ": " + *job->last_error : ""),
                                         ""}));
      }
      // Still queued or running at the deadline: the answer of seed 003's
      // contract for a slow job, without the worker's name yet.
      ex->ReplyJson(202, body, {{"Location", "/v1/jobs/" + std::to_string(id)}});
    };
    if (config_.upload_wait_seconds <= 0) return answer(std::nullopt, true);
    waiter_.Wait(id, deadline, answer);
  });
}

void ImageRoutes::SeedSubmit(const ExchangePtr& ex) {
  RequireJsonContentType(ex->content_type);
  if (ex->body.size() > config_.max_body_bytes) {
    throw HttpError({413, "payload_too_large", "the request body is larger than this server accepts", "body"});
  }
  const auto body = ParseJsonBody(ex->body);
  if (!body.is_object()) throw InvalidArgument("body: must be a JSON object with image_url", "body");
  static const std::set<std::string> kKnown = {"image_url", "ops", "effects", "queue", "priority",
                                               "idempotency_key", "max_attempts"};
  for (const auto& item : body.items()) {
    if (!kKnown.count(item.key())) {
      throw InvalidArgument(item.key().substr(0, 64) + ": unknown field (expected image_url, ops or effects, queue, "
                            "priority, idempotency_key, max_attempts)",
                            item.key().substr(0, 64));
    }
  }
  const auto url = body.find("image_url");
  if (url == body.end() || !url->is_string()) {
    throw InvalidArgument("image_url: required, a string (http or https)", "image_url");
  }
  fetch::ValidateUrl(url->get<std::string>());
  if (body.contains("ops") && body.contains("effects")) throw InvalidArgument("give either ops or effects", "ops");
  images::OpList ops;
  std::vector<std::string> effects;
  try {
    if (body.contains("effects")) {
      if (!body["effects"].is_string()) throw InvalidArgument("effects: must be a string like \"bw,blur\"", "effects");
      ops = images::ParseEffects(body["effects"].get<std::string>(), &effects);
    } else {
      ops = images::ParseOps(body.contains("ops") ? body["ops"] : nlohmann::json(kDefaultSubmitOps));
    }
  } catch (const images::ImageError& e) {
    const std::string field = body.contains("effects") ? "effects" : "ops";
    throw InvalidArgument(field + ": " + e.what(), field);
  }
  nlohmann::json payload = {{"image_url", url->get<std::string>()}, {"ops", ops.ToString()}};
  if (!effects.empty()) payload["effects"] = effects;
  nlohmann::json request = {{"kind", kImageKind}, {"payload", payload}};
  for (const char* key : {"queue", "priority", "idempotency_key", "max_attempts"}) {
    if (body.contains(key)) request[key] = body[key];
  }
  auto job_request = ParseJobRequest(request);
  ex->body.clear();
  work_.SubmitEnqueue(std::move(job_request), [ex](EnqueueOutcome outcome) {
    if (outcome.error) return ex->Fail(outcome.error);
    ex->job_id = outcome.id;
    ex->ReplyJson(outcome.created ? 202 : 200, Accepted(outcome.id, outcome.created ? "queued" : "existing"),
                  {{"Location", "/v1/jobs/" + std::to_string(outcome.id)}});
  });
}

void ImageRoutes::GetImage(const ExchangePtr& ex, core::JobId id, core::BlobRole role) {
  std::optional<std::string> if_none_match = ex->if_none_match;
  work_.Submit(
      [ex, id, role, if_none_match](core::pg::Connection& conn) {
        core::JobBlobs blobs(conn);
        auto blob = blobs.Get(id, role, !if_none_match);
        if (!blob) throw NotFound("job " + std::to_string(id) + " not found");
        const std::string what = role == core::BlobRole::kOutput ? "output" : "input";
        if (!blob->present) {
          if (role == core::BlobRole::kOutput && blob->job_state != "succeeded") {
            std::string message = "job " + std::to_string(id) + " is " + blob->job_state +
                                  ": its output exists once it has succeeded";
            if (blob->last_error && (blob->job_state == "dead" || blob->job_state == "queued")) {
              message += " (last error: " + blob->last_error->substr(0, 500) + ")";
            }
            throw HttpError({404, "not_ready", message, ""});
          }
          throw HttpError({404, "no_image",
                           "job " + std::to_string(id) + " (kind " + blob->kind.substr(0, 128) + ") has no " + what +
                               " image stored" +
                               (role == core::BlobRole::kInput ? " (its input came from image_url, or it is not an "
                                                                 "image job)"
                                                               : ""),
                           ""});
        }
        const std::string etag = "\"" + blob->sha256 + "\"";
        const std::vector<ReplyHeader> headers = {{"ETag", etag},
                                                  {"Cache-Control", "private, max-age=86400"},
                                                  {"X-Content-Type-Options", "nosniff"}};
        if (if_none_match) {
          if (*if_none_match == etag || *if_none_match == "*") return ex->Reply(304, "", headers, blob->content_type);
          blob = blobs.Get(id, role, true);
          if (!blob || !blob->present) throw NotFound("job " + std::to_string(id) + " not found");
        }
        ex->Reply(200, blob->bytes, headers, blob->content_type);
      },
      [ex](std::exception_ptr error) { ex->Fail(error); });
}

}  // namespace jobqueue::api
