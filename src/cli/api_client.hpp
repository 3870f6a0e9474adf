#pragma once
// ApiClient: the CLI's side of the REST API, over libcurl. The commands that
// act on jobs go through the API (JOBQUEUE_URL, JOBQUEUE_TOKEN) so they meet
// the same validation and auth as any other client.
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace jobqueue::cli {

// The API could not be reached (connection refused, timeout, DNS), or it
// answered 503: exit code 4.
class ApiUnreachable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The API answered with an error: its status and its JSON error's code,
// message and field (empty when absent). 503 schema_mismatch is exit 3.
class ApiError : public std::runtime_error {
 public:
  ApiError(long status, std::string code, const std::string& message, std::string field)
      : std::runtime_error(message), status(status), code(std::move(code)), field(std::move(field)) {}
  long status;
  std::string code;
  std::string field;
};

struct ApiResponse {
  long status = 0;
  std::string content_type;
  std::string body;
};

class ApiClient {
 public:
  // `base_url` like http://127.0.0.1:8080; `token` empty: no Authorization.
  ApiClient(std::string base_url, std::string token, double timeout_seconds = 30);

  // From JOBQUEUE_URL (default http://127.0.0.1:8080) and JOBQUEUE_TOKEN.
  static ApiClient FromEnvironment();

  // Any status comes back; only an unreachable API throws (ApiUnreachable).
  ApiResponse Send(const std::string& method, const std::string& path, const std::string& body = "",
                   const std::string& content_type = "") const;

  // A JSON request and a 2xx JSON answer; anything else throws ApiError
  // (or ApiUnreachable for 503 and no answer).
  nlohmann::ordered_json Json(const std::string& method, const std::string& path,
                              const nlohmann::ordered_json& body = nullptr) const;

  // Throws ApiError / ApiUnreachable unless `r` is 2xx.
  static void Check(const ApiResponse& r);

  const std::string& base_url() const { return base_url_; }

 private:
  std::string base_url_;
  std::string token_;
  double timeout_seconds_;
};

// Percent-encodes `text` for a query string or a path segment.
std::string UrlEncode(const std::string& text);

}  // namespace jobqueue::cli
