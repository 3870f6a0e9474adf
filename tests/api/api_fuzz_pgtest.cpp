// Fuzz-style robustness: random, truncated, mistyped, oversized and deeply
// nested bodies and hostile headers and request lines, sent to every route.
// Deterministic (a fixed seed) and quick. Every answer must be a 4xx (or a
// 2xx from a route that needs no body), the server must stay up, and the
// number of jobs must not change.
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "api/api_fixture.hpp"

namespace jobqueue::testing {
namespace {

using nlohmann::json;

struct Target {
  std::string method;
  std::string path;
  bool writes;  // creates jobs when given a valid body: must answer 4xx here
};

const std::vector<Target> kTargets = {
    {"POST", "/v1/jobs", true},           {"POST", "/v1/jobs/batch", true},    {"GET", "/v1/jobs", false},
    {"GET", "/v1/jobs/1", false},         {"POST", "/v1/jobs/1/cancel", false}, {"POST", "/v1/jobs/2/retry", false},
    {"GET", "/v1/queues", false},         {"GET", "/health", false},            {"GET", "/ready", false},
    {"GET", "/metrics", false},           {"GET", "/v1/jobs/999999999", false}, {"PUT", "/v1/jobs", false},
    {"GET", "/nope", false},
    {"POST", "/v1/jobs/retry", false},    {"POST", "/v1/jobs/cancel", false},   {"GET", "/v1/workers", false},
    {"GET", "/v1/throughput", false},     {"GET", "/v1/errors", false},         {"GET", "/ui/", false},
};

class Fuzzer {
 public:
  explicit Fuzzer(std::size_t max_body) : rng_(20261125), max_body_(max_body) {}

  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  std::string RandomBytes(std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(Pick(256));
    return s;
  }

  // Visible ASCII only: a space or line break would end the request line.
  std::string Printable(std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(33 + Pick(94));
    return s;
  }

  // A body that is never a valid job (or batch): each kind of breakage.
  std::string InvalidBody(bool batch) {
    const json valid = {{"kind", "noop"}, {"payload", {{"a", 1}}}, {"queue", "q"}, {"priority", 1}};
    switch (Pick(8)) {
      case 0:
        return RandomBytes(static_cast<std::size_t>(Pick(600)));
      case 1: {  // truncated: no proper prefix of a JSON object is JSON
        const std::string text = batch ? json{{"jobs", {valid, valid}}}.dump() : valid.dump();
        return text.substr(0, static_cast<std::size_t>(Pick(static_cast<int>(text.size()))));
      }
      case 2: {  // one field of the right name with a wrong value
        static const std::vector<std::pair<std::string, json>> kBad = {
            {"kind", 7},           {"kind", nullptr},       {"kind", ""},           {"kind", json::array()},
            {"priority", "1"},     {"priority", 1.5},       {"priority", 99999},    {"priority", true},
            {"max_attempts", 0},   {"max_attempts", 1001},  {"run_at", "x"},        {"run_at", 5},
            {"delay_seconds", -1}, {"delay_seconds", "9"},  {"payload", "x"},       {"payload", json::array()},
            {"queue", ""},         {"queue", 3},            {"idempotency_key", ""}, {"unknown", 1},
        };
        auto job = valid;
        const auto& [field, value] = kBad[static_cast<std::size_t>(Pick(static_cast<int>(kBad.size())))];
        job[field] = value;
        if (!batch) return job.dump();
        return json{{"jobs", {valid, job}}}.dump();
      }
      case 3:  // larger than the server takes
        return R"({"kind":"noop","payload":{"x":")" + std::string(max_body_ + static_cast<std::size_t>(Pick(5000)), 'x') + "\"}}";
      case 4:
        return std::string(static_cast<std::size_t>(1000 + Pick(20000)), '[');
      case 5:
        return "{\"kind\":\"no\xff\xfeop\"}";
      case 6:
        return R"({"kind":"noop","payload":{"k":"\u0000"}})";
      default:
        return batch ? R"({"jobs":"all"})" : R"({"kind":"noop","run_at":"2030-01-01T00:00:00Z","delay_seconds":3})";
    }
  }

  // Extra header lines that a hostile client might send.
  std::string HostileHeaders() {
    static const std::vector<std::string> kHeaders = {
        "Accept: ;;;,,;q=abc\r\n",
        "Accept: */*;q=0.5;level=\xff\r\n",
        "Host: [::1\r\n",
        "Host: example.com:99999999\r\n",
        "Date: yesterday-ish\r\n",
        "Cache-Control: max-age=abc, no-cache=\r\n",
        "Connection: \x01\x02\r\n",
        "Expect: 100-continue\r\n",
        "Authorization: Bearer " + std::string(3000, 'A') + "\r\n",
        "Authorization: Basic !!!\r\n",
        "User-Agent: \xc3\x28\r\n",
        "X-Long: " + std::string(20000, 'h') + "\r\n",
        "Content-Encoding: gzip\r\n",
        "Cookie: a=b; ;;=; c\r\n",
        "Location: \r\n",
        "Content-Type: ;;\r\n",
    };
    std::string out;
    const int n = Pick(3);
    for (int i = 0; i < n; ++i) out += kHeaders[static_cast<std::size_t>(Pick(static_cast<int>(kHeaders.size())))];
    if (Pick(20) == 0) {
      for (int i = 0; i < 200; ++i) out += "X-H" + std::to_string(i) + ": v\r\n";
    }
    return out;
  }

  // A whole request; `body` as given, with a Content-Length that is
  // correct, smaller than the body, malformed, or absurd.
  std::string RequestBytes(const Target& t, const std::string& body) {
    std::string method = t.method;
    std::string path = t.path;
    switch (Pick(12)) {
      case 0: path += "?limit=" + Printable(3); break;
      case 1: path += "?%zz=1&after=-5&state=\xff"; break;
      case 2: path += std::string(Pick(2) ? "/" : "//"); break;
      case 3: method = Pick(2) ? "BREW" : "OPTIONS"; break;
      default: break;
    }
    std::string req = method + " " + path + " " + (Pick(30) == 0 ? "HTTP/9.9" : "HTTP/1.1") + "\r\nHost: 127.0.0.1\r\n";
    if (Pick(4) != 0) req += Pick(5) ? "Content-Type: application/json\r\n" : "Content-Type: text/plain\r\n";
    req += HostileHeaders();
    switch (Pick(10)) {
      case 0: req += "Content-Length: " + std::to_string(body.size() / 2) + "\r\n"; break;
      case 1: req += "Content-Length: -1\r\n"; break;
      case 2: req += "Content-Length: 12abc\r\n"; break;
      case 3: req += "Content-Length: 99999999999999999999999999\r\n"; break;
      case 4: req += "Content-Length: 1099511627776\r\n"; break;
      case 5: req += "Transfer-Encoding: chunked\r\n"; break;
      default: req += "Content-Length: " + std::to_string(body.size()) + "\r\n"; break;
    }
    return req + "\r\n" + body;
  }

 private:
  std::mt19937 rng_;
  std::size_t max_body_;
};

void Fuzz(ApiFixture& api, int rounds) {
  Fuzzer fuzz(api.config().max_body_bytes);
  const long long jobs_before = api.JobCount();
  int answered = 0;
  for (int i = 0; i < rounds; ++i) {
    const auto& target = kTargets[static_cast<std::size_t>(i) % kTargets.size()];
    const std::string body = fuzz.InvalidBody(target.path == "/v1/jobs/batch");
    const std::string bytes = fuzz.RequestBytes(target, body);
    const auto r = SendRaw(api.port(), bytes, 3000);
    INFO("round " << i << ": " << target.method << " " << target.path << " -> " << r.status << " "
                  << r.body.substr(0, 300) << "\nrequest: " << bytes.substr(0, 400));
    REQUIRE(r.status >= 200);
    REQUIRE(r.status < 500);
    if (target.writes) REQUIRE(r.status >= 400);
    CHECK(r.body.find("std::") == std::string::npos);
    CHECK(r.body.find("stoull") == std::string::npos);
    const auto json_body = r.Json();
    if (r.status >= 400 && json_body.is_object()) CHECK(!r.ErrorCode().empty());
    ++answered;
  }
  CHECK(answered == rounds);
  CHECK(api.JobCount() == jobs_before);
  // Still serving, and still taking valid work.
  CHECK(api.Get("/health").status == 200);
  CHECK(api.Post("/v1/jobs", {{"kind", "noop"}}).status == 201);
}

}  // namespace

TEST_CASE("random, truncated, oversized bodies and hostile headers get only 4xx answers", "[pg][api][fuzz]") {
  ApiFixture api([](api::ApiConfig& c) { c.max_body_bytes = 8192; });
  for (int i = 0; i < 2; ++i) REQUIRE(api.Post("/v1/jobs", {{"kind", "noop"}}).status == 201);
  Fuzz(api, 1300);
}

TEST_CASE("the fuzzed requests get only 4xx answers with authentication on too", "[pg][api][fuzz]") {
  ApiFixture api([](api::ApiConfig& c) {
    c.max_body_bytes = 8192;
    c.secret_key = "fuzz-key";
  });
  api.bearer = "fuzz-key";  // for the checks after the fuzzing; fuzzed requests carry none or a wrong one
  Fuzz(api, 300);
}

}  // namespace jobqueue::testing
