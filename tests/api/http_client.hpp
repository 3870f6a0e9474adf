#pragma once
// A minimal HTTP/1.1 client for the API tests: one connection per request
// to 127.0.0.1, the answer read up to its Content-Length, a timeout on
// every wait. SendRaw sends any bytes at all (fuzzing, hostile headers).
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace jobqueue::testing {

struct HttpResponse {
  int status = -1;                            // -1: no (complete) answer
  std::map<std::string, std::string> headers; // names lowercased
  std::string body;

  // The body as JSON (discarded when it is not JSON).
  nlohmann::json Json() const { return nlohmann::json::parse(body, nullptr, false); }
  // error.code / error.field of a JSON error body ("" when absent).
  std::string ErrorCode() const;
  std::string ErrorField() const;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// Sends `bytes` and reads one answer.
HttpResponse SendRaw(int port, const std::string& bytes, int timeout_ms = 5000);

// METHOD target with the given headers; a body gets Content-Length and,
// unless `headers` names one, Content-Type: application/json.
HttpResponse Request(int port, const std::string& method, const std::string& target, const std::string& body = "",
                     const Headers& headers = {});

}  // namespace jobqueue::testing
