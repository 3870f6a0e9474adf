#pragma once
// How the API answers when it does not answer 2xx: the JSON error shape of
// DESIGN.md, {"error": {"code", "message", "field"?}}, and the one place
// where exceptions become HTTP statuses (ErrorFor).
#include <exception>
#include <stdexcept>
#include <string>

namespace jobqueue::api {

struct ApiError {
  int status = 500;
  std::string code;     // machine-readable: "invalid_argument", "not_found", ...
  std::string message;  // for humans; never a stack trace or a secret
  std::string field;    // the offending input, when there is one ("priority", "jobs[2].kind")
};

// An HTTP-level refusal raised while handling a request (401, 404, 405, 413,
// 415): carries the answer itself.
class HttpError : public std::runtime_error {
 public:
  explicit HttpError(ApiError error) : std::runtime_error(error.message), error_(std::move(error)) {}
  const ApiError& error() const { return error_; }

 private:
  ApiError error_;
};

// Maps any exception to its answer:
//   HttpError          its own status
//   InvalidArgument    400 invalid_argument (with its field)
//   images::ImageError 415 unsupported_media_type, 413 image_too_large,
//                      400 invalid_argument (ops), 422 corrupt_image
//   fetch::FetchError  400 invalid_argument (image_url)
//   NotFound           404 not_found
//   Conflict           409 conflict
//   ConnectionLost     503 outcome_unknown when `writes` (the request was
//                      a write whose statement reached the database and no
//                      answer came back: it may have committed), else as
//                      Transient
//   Transient          503 database_unavailable
//   SchemaMismatch     503 schema_mismatch (also a database error saying a
//                      schema, table, function or column is missing)
//   anything else      500 internal (the detail is logged, not sent)
ApiError ErrorFor(const std::exception_ptr& error, bool writes = false);

// {"error": {...}} as JSON text.
std::string ErrorBody(const ApiError& error);

}  // namespace jobqueue::api
