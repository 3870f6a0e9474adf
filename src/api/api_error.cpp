#include "api/api_error.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/errors.hpp"
#include "core/log.hpp"
#include "fetch/url_fetcher.hpp"
#include "images/image_error.hpp"

namespace jobqueue::api {

ApiError ErrorFor(const std::exception_ptr& error, bool writes) {
  try {
    std::rethrow_exception(error);
  } catch (const HttpError& e) {
    return e.error();
  } catch (const InvalidArgument& e) {
    return {400, "invalid_argument", e.what(), e.field()};
  } catch (const images::ImageError& e) {
    switch (e.code()) {
      case images::ImageErrorCode::kUnsupportedFormat:
        return {415, "unsupported_media_type", e.what(), "file"};
      case images::ImageErrorCode::kTooLarge:
        return {413, "image_too_large", e.what(), "file"};
      case images::ImageErrorCode::kInvalidOps:
        return {400, "invalid_argument", e.what(), "ops"};
      case images::ImageErrorCode::kCorrupt:
      case images::ImageErrorCode::kProcessing:
        return {422, "corrupt_image", e.what(), "file"};
    }
  } catch (const fetch::FetchError& e) {
    return {400, "invalid_argument", std::string("image_url: ") + e.what(), "image_url"};
  } catch (const NotFound& e) {
    return {404, "not_found", e.what(), ""};
  } catch (const Conflict& e) {
    return {409, "conflict", e.what(), ""};
  } catch (const Transient& e) {
    spdlog::warn("{}", core::LogFields("database unavailable", {{"error", e.what()}, {"write", writes}}));
    // A write whose session broke after it was sent may have committed.
    if (writes && dynamic_cast<const ConnectionLost*>(&e) != nullptr) {
      return {503, "outcome_unknown",
              "the database connection broke after this request was sent to it, so it may or may not have taken "
              "effect; sending it again with the same idempotency_key is safe (without one, look for the job "
              "first)",
              ""};
    }
    return {503, "database_unavailable", "the database is unavailable; retry later", ""};
  } catch (const SchemaMismatch& e) {
    spdlog::error("{}", core::LogFields("schema mismatch", {{"error", e.what()}}));
    return {503, "schema_mismatch", "the database schema does not match this server", ""};
  } catch (const Error& e) {
    // An unmigrated (or older) schema shows up as a missing schema,
    // relation, function or column: the same answer as /ready gives.
    const std::string what = e.what();
    for (const char* state : {"(3F000)", "(42P01)", "(42883)", "(42703)"}) {
      if (what.rfind(std::string("database error ") + state, 0) == 0) {
        spdlog::error("{}", core::LogFields("schema mismatch", {{"error", what}}));
        return {503, "schema_mismatch", "the database schema does not match this server (run jobqueue migrate)", ""};
      }
    }
    spdlog::error("{}", core::LogFields("internal error", {{"error", what}}));
  } catch (const std::exception& e) {
    spdlog::error("{}", core::LogFields("internal error", {{"error", e.what()}}));
  } catch (...) {
    spdlog::error("{}", core::LogFields("internal error", {{"error", "unknown exception"}}));
  }
  return {500, "internal", "internal error", ""};
}

std::string ErrorBody(const ApiError& error) {
  nlohmann::ordered_json inner = {{"code", error.code}, {"message", error.message}};
  if (!error.field.empty()) inner["field"] = error.field;
  return nlohmann::ordered_json{{"error", inner}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace jobqueue::api
