#include "cli/api_client.hpp"

#include <curl/curl.h>

#include <cctype>
#include <memory>

#include "core/env.hpp"
#include "core/errors.hpp"

namespace jobqueue::cli {
namespace {

std::size_t Append(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

void InitCurlOnce() {
  static const bool done = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  if (!done) throw std::runtime_error("libcurl failed to initialise");
}

}  // namespace

ApiClient::ApiClient(std::string base_url, std::string token, double timeout_seconds)
    : base_url_(std::move(base_url)), token_(std::move(token)), timeout_seconds_(timeout_seconds) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  if (base_url_.rfind("http://", 0) != 0 && base_url_.rfind("https://", 0) != 0) {
    throw ConfigError("JOBQUEUE_URL: must start with http:// or https://, not '" + base_url_ + "'");
  }
}

ApiClient ApiClient::FromEnvironment() {
  core::Env env;
  return ApiClient(env.String("JOBQUEUE_URL", "http://127.0.0.1:8080"), env.String("JOBQUEUE_TOKEN", ""));
}

ApiResponse ApiClient::Send(const std::string& method, const std::string& path, const std::string& body,
                            const std::string& content_type) const {
  InitCurlOnce();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> easy(curl_easy_init(), &curl_easy_cleanup);
  if (!easy) throw std::runtime_error("libcurl: no handle");
  const std::string url = base_url_ + path;
  ApiResponse response;
  char error[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Accept: application/json");
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip for uploads
  if (!content_type.empty()) headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  if (!token_.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + token_).c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(headers, &curl_slist_free_all);
  CURL* h = easy.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_seconds_ * 1000));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(h, CURLOPT_USERAGENT, "jobqueue-cli");
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "POST" || !body.empty()) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
  const CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    throw ApiUnreachable("cannot reach the API at " + base_url_ + ": " + (error[0] ? error : curl_easy_strerror(rc)) +
                         " (is it running? JOBQUEUE_URL sets where)");
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  char* type = nullptr;
  curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &type);
  if (type) response.content_type = type;
  return response;
}

void ApiClient::Check(const ApiResponse& r) {
  if (r.status >= 200 && r.status < 300) return;
  const auto doc = nlohmann::json::parse(r.body, nullptr, false);
  std::string code, message, field;
  if (doc.is_object() && doc.contains("error") && doc["error"].is_object()) {
    const auto& e = doc["error"];
    code = e.value("code", "");
    message = e.value("message", "");
    if (e.contains("field") && e["field"].is_string()) field = e["field"].get<std::string>();
  }
  if (message.empty()) message = "HTTP " + std::to_string(r.status) + (r.body.empty() ? "" : ": " + r.body.substr(0, 200));
  if (r.status == 503 && code != "schema_mismatch") throw ApiUnreachable("the API is unavailable: " + message);
  if (r.status == 401) message += " (set JOBQUEUE_TOKEN to the API's key)";
  throw ApiError(r.status, code, message, field);
}

nlohmann::ordered_json ApiClient::Json(const std::string& method, const std::string& path,
                                       const nlohmann::ordered_json& body) const {
  const auto r = body.is_null() ? Send(method, path) : Send(method, path, body.dump(), "application/json");
  Check(r);
  if (r.body.empty()) return nlohmann::ordered_json::object();
  auto doc = nlohmann::ordered_json::parse(r.body, nullptr, false);
  if (doc.is_discarded()) throw std::runtime_error("the API answered " + path + " with something that is not JSON");
  return doc;
}

std::string UrlEncode(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace jobqueue::cli
