// Request parsing and routing without a server or a database: every field's
// refusal names the field, nothing invalid gets through.
#include <catch2/catch.hpp>

#include "api/api_config.hpp"
#include "api/api_error.hpp"
#include "api/pistache_hardening.hpp"
#include "api/request_validation.hpp"
#include "api/router.hpp"
#include "core/errors.hpp"

namespace jobqueue::api {
namespace {

using nlohmann::json;

// The field named by the InvalidArgument that `fn` throws ("" if none).
template <typename F>
std::string FieldOf(F&& fn) {
  try {
    fn();
  } catch (const InvalidArgument& e) {
    return e.field();
  }
  return "<accepted>";
}

std::string JobField(const std::string& body) {
  return FieldOf([&] { ParseJobRequest(ParseJsonBody(body)); });
}

}  // namespace

TEST_CASE("a job request takes every documented field", "[api]") {
  const auto r = ParseJobRequest(json::parse(R"({"kind":"thumbnail","payload":{"w":64},"queue":"images",
      "priority":-3,"run_at":"2030-01-02T03:04:05.5+01:00","max_attempts":7,"idempotency_key":"order-42"})"));
  CHECK(r.job.kind == "thumbnail");
  CHECK(r.job.payload == json{{"w", 64}});
  CHECK(r.job.queue == "images");
  CHECK(r.job.priority == -3);
  CHECK(r.job.run_at == "2030-01-02T03:04:05.5+01:00");
  CHECK(r.job.max_attempts == 7);
  CHECK(r.job.idempotency_key == "order-42");
  CHECK_FALSE(r.delay_seconds);
}

TEST_CASE("a job request needs only a kind; null means the default", "[api]") {
  const auto r = ParseJobRequest(json::parse(R"({"kind":"noop","queue":null,"payload":null,"priority":null})"));
  CHECK(r.job.queue == "default");
  CHECK(r.job.payload == json::object());
  CHECK(r.job.priority == 0);
  CHECK(r.job.max_attempts == 25);
  CHECK(ParseJobRequest(json::parse(R"({"kind":"noop","delay_seconds":1.5})")).delay_seconds == 1.5);
}

TEST_CASE("invalid job requests are refused naming the field", "[api]") {
  CHECK(JobField(R"({"payload":{}})") == "kind");
  CHECK(JobField(R"({"kind":null})") == "kind");
  CHECK(JobField(R"({"kind":""})") == "kind");
  CHECK(JobField(R"({"kind":7})") == "kind");
  CHECK(JobField(R"({"kind":")" + std::string(129, 'k') + R"("})") == "kind");
  CHECK(JobField(R"({"kind":"a\u0000b"})") == "kind");
  CHECK(JobField(R"({"kind":"noop","payload":"{\"a\":1}"})") == "payload");
  CHECK(JobField(R"({"kind":"noop","payload":[1]})") == "payload");
  CHECK(JobField(R"({"kind":"noop","payload":{"a":"\u0000"}})") == "payload");
  CHECK(JobField(R"({"kind":"noop","queue":""})") == "queue");
  CHECK(JobField(R"({"kind":"noop","priority":32768})") == "priority");
  CHECK(JobField(R"({"kind":"noop","priority":-32769})") == "priority");
  CHECK(JobField(R"({"kind":"noop","priority":1.5})") == "priority");
  CHECK(JobField(R"({"kind":"noop","priority":"1"})") == "priority");
  CHECK(JobField(R"({"kind":"noop","priority":18446744073709551615})") == "priority");
  CHECK(JobField(R"({"kind":"noop","priority":1e300})") == "priority");
  CHECK(JobField(R"({"kind":"noop","max_attempts":0})") == "max_attempts");
  CHECK(JobField(R"({"kind":"noop","max_attempts":1001})") == "max_attempts");
  CHECK(JobField(R"({"kind":"noop","max_attempts":true})") == "max_attempts");
  CHECK(JobField(R"({"kind":"noop","run_at":"tomorrow"})") == "run_at");
  CHECK(JobField(R"({"kind":"noop","run_at":"2030-02-30T00:00:00Z"})") == "run_at");
  CHECK(JobField(R"({"kind":"noop","run_at":"2030-01-01T00:00:00"})") == "run_at");
  CHECK(JobField(R"({"kind":"noop","delay_seconds":-1})") == "delay_seconds");
  CHECK(JobField(R"({"kind":"noop","delay_seconds":"5"})") == "delay_seconds");
  CHECK(JobField(R"({"kind":"noop","delay_seconds":1e12})") == "delay_seconds");
  CHECK(JobField(R"({"kind":"noop","run_at":"2030-01-01T00:00:00Z","delay_seconds":5})") == "delay_seconds");
  CHECK(JobField(R"({"kind":"noop","idempotency_key":""})") == "idempotency_key");
  CHECK(JobField(R"({"kind":"noop","idempotency_key":")" + std::string(513, 'k') + R"("})") == "idempotency_key");
  CHECK(JobField(R"({"kind":"noop","colour":"blue"})") == "colour");
  CHECK(JobField(R"({"kind":"noop","colour":null})") == "colour");
  CHECK(JobField(R"(["kind"])") == "body");
  CHECK(JobField(R"("noop")") == "body");
}

TEST_CASE("malformed and deeply nested bodies are refused as the body", "[api]") {
  CHECK(JobField("") == "body");
  CHECK(JobField("{") == "body");
  CHECK(JobField(R"({"kind":"noop",})") == "body");
  CHECK(JobField("{\"kind\":\"\xff\xfe\"}") == "body");           // invalid UTF-8
  CHECK(JobField(R"({"kind":"\ud800"})") == "body");              // lone surrogate
  CHECK(JobField(std::string(100000, '[')) == "body");
  std::string nested = R"({"kind":"noop","payload":)";
  for (int i = 0; i < kMaxJsonDepth; ++i) nested += R"({"a":)";
  nested += "1";
  for (int i = 0; i < kMaxJsonDepth; ++i) nested += "}";
  nested += "}";
  CHECK(JobField(nested) == "body");
}

TEST_CASE("a batch names the job and field that is invalid", "[api]") {
  CHECK(ParseBatchRequest(json::parse(R"({"jobs":[{"kind":"a"},{"kind":"b"}]})"), 10).size() == 2);
  CHECK(FieldOf([] { ParseBatchRequest(json::parse(R"({"jobs":[{"kind":"a"},{"kind":"b","priority":"x"}]})"), 10); }) ==
        "jobs[1].priority");
  CHECK(FieldOf([] { ParseBatchRequest(json::parse(R"({"jobs":[{"kind":"a"},7]})"), 10); }) == "jobs[1]");
  CHECK(FieldOf([] { ParseBatchRequest(json::parse(R"({"jobs":[]})"), 10); }) == "jobs");
  CHECK(FieldOf([] { ParseBatchRequest(json::parse(R"({"jobs":{}})"), 10); }) == "jobs");
  CHECK(FieldOf([] { ParseBatchRequest(json::parse(R"({})"), 10); }) == "jobs");
  CHECK(FieldOf([] { ParseBatchRequest(json::parse(R"({"jobs":[{"kind":"a"}],"x":1})"), 10); }) == "x");
  CHECK(FieldOf([] { ParseBatchRequest(json::parse(R"({"jobs":[{"kind":"a"},{"kind":"a"}]})"), 1); }) == "jobs");
}

TEST_CASE("Content-Type must be application/json", "[api]") {
  CHECK_NOTHROW(RequireJsonContentType(std::string("application/json")));
  CHECK_NOTHROW(RequireJsonContentType(std::string("Application/JSON; charset=utf-8")));
  for (const char* bad : {"text/plain", "application/jsonx", "", "multipart/form-data; boundary=x"}) {
    try {
      RequireJsonContentType(std::string(bad));
      FAIL("accepted " << bad);
    } catch (const HttpError& e) {
      CHECK(e.error().status == 415);
    }
  }
  CHECK_THROWS_AS(RequireJsonContentType(std::nullopt), HttpError);
}

TEST_CASE("list queries are validated naming the parameter", "[api]") {
  const auto f = ParseListQuery({{"state", "dead"}, {"queue", "q"}, {"kind", "k"}, {"limit", "20"}, {"after", "99"}});
  CHECK(f.state == core::JobState::kDead);
  CHECK(f.queue == "q");
  CHECK(f.kind == "k");
  CHECK(f.limit == 20);
  CHECK(f.before_id == 99);
  CHECK(ParseListQuery({}).limit == kDefaultPageSize);
  CHECK(ParseListQuery({{"state", ""}}).state == std::nullopt);
  CHECK(FieldOf([] { ParseListQuery({{"state", "done"}}); }) == "state");
  CHECK(FieldOf([] { ParseListQuery({{"limit", "0"}}); }) == "limit");
  CHECK(FieldOf([] { ParseListQuery({{"limit", "501"}}); }) == "limit");
  CHECK(FieldOf([] { ParseListQuery({{"limit", "-1"}}); }) == "limit");
  CHECK(FieldOf([] { ParseListQuery({{"limit", "99999999999999999999"}}); }) == "limit");
  CHECK(FieldOf([] { ParseListQuery({{"after", "abc"}}); }) == "after");
  CHECK(FieldOf([] { ParseListQuery({{"after", "0"}}); }) == "after");
  CHECK(FieldOf([] { ParseListQuery({{"sort", "id"}}); }) == "sort");
}

TEST_CASE("job ids in paths are positive 64-bit integers", "[api]") {
  CHECK(ParseJobId("1") == 1);
  CHECK(ParseJobId("9223372036854775807") == 9223372036854775807LL);
  for (const char* bad : {"0", "-1", "", "1.0", "abc", "9223372036854775808", "99999999999999999999", " 1", "1%00"}) {
    CHECK(FieldOf([&] { ParseJobId(bad); }) == "id");
  }
  CHECK(ParseCursor(FormatCursor(42)) == 42);
}

TEST_CASE("RFC 3339 date-times are recognised", "[api]") {
  for (const char* ok : {"2026-11-23T15:35:01Z", "2026-11-23t15:35:01z", "2026-11-23 15:35:01+05:30",
                         "2024-02-29T00:00:00.123456789-07:00", "0001-01-01T00:00:00Z", "9999-12-31T23:59:60Z"}) {
    CHECK(IsRfc3339(ok));
  }
  for (const char* bad : {"2026-11-23", "2026-11-23T15:35:01", "2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
                          "2026-11-23T24:00:00Z", "2026-11-23T15:35:01+0530", "2026-11-23T15:35:01.Z",
                          "0000-01-01T00:00:00Z", "infinity", "now", "2026-11-23T15:35:01Z ", "+2026-11-23T15:35:01Z"}) {
    CHECK_FALSE(IsRfc3339(bad));
  }
}

TEST_CASE("query components are percent-decoded", "[api]") {
  CHECK(UrlDecode("a%20b+c%2Fd", "q") == "a b c/d");
  CHECK(FieldOf([] { UrlDecode("%", "queue"); }) == "queue");
  CHECK(FieldOf([] { UrlDecode("%4", "queue"); }) == "queue");
  CHECK(FieldOf([] { UrlDecode("%zz", "queue"); }) == "queue");
}

TEST_CASE("the router prefers literal segments and reports allowed methods", "[api]") {
  const Router router(ApiRoutes());
  auto m = router.Match("GET", "/v1/jobs/42");
  REQUIRE(m.kind == RouteMatch::Kind::kFound);
  CHECK(m.route->id == RouteId::kGetJob);
  CHECK(m.params.at("id") == "42");
  CHECK(router.Match("POST", "/v1/jobs/batch").route->id == RouteId::kSubmitBatch);
  m = router.Match("GET", "/v1/jobs/batch");
  CHECK(m.kind == RouteMatch::Kind::kMethodNotAllowed);
  CHECK(m.allowed == std::vector<std::string>{"POST"});
  m = router.Match("DELETE", "/v1/jobs");
  CHECK(m.kind == RouteMatch::Kind::kMethodNotAllowed);
  CHECK(m.allowed == std::vector<std::string>{"GET", "POST"});
  for (const char* path : {"/", "", "/v1", "/v1/jobs/", "/v1//jobs", "//v1/jobs", "/v1/jobs/1/cancel/x", "health"}) {
    CHECK(router.Match("GET", path).kind == RouteMatch::Kind::kNotFound);
  }
}

TEST_CASE("configuration is read from the environment and refused naming the variable", "[api]") {
  auto read = [](std::map<std::string, std::string> vars) {
    return ReadApiConfig(core::Env([vars](const std::string& name) -> std::optional<std::string> {
      auto it = vars.find(name);
      if (it == vars.end()) return std::nullopt;
      return it->second;
    }));
  };
  const auto defaults = read({});
  CHECK(defaults.port == 8080);
  CHECK(defaults.db_pool_size == 8);
  CHECK(defaults.max_body_bytes == 1u << 20);
  CHECK(defaults.secret_key.empty());
  const auto c = read({{"API_PORT", "9000"}, {"API_SECRET_KEY", "s3cret"}, {"API_DB_POOL_SIZE", "3"},
                       {"API_MAX_BODY_BYTES", "4096"}, {"DATABASE_URL", "dbname=x"}});
  CHECK(c.port == 9000);
  CHECK(c.secret_key == "s3cret");
  CHECK(c.db_pool_size == 3);
  CHECK(c.max_body_bytes == 4096);
  CHECK(c.dsn == "dbname=x");
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{{"API_PORT", "http"},
                                                                      {"API_PORT", "70000"},
                                                                      {"API_DB_POOL_SIZE", "0"},
                                                                      {"API_THREADS", "-2"},
                                                                      {"API_MAX_BODY_BYTES", "12"},
                                                                      {"API_DB_WAIT_SECONDS", "soon"},
                                                                      {"LOG_LEVEL", "loud"},
                                                                      {"LOG_FORMAT", "xml"}}) {
    try {
      read({{name, value}});
      FAIL(name << "=" << value << " was accepted");
    } catch (const ConfigError& e) {
      CHECK(std::string(e.what()).rfind(name, 0) == 0);
    }
  }
}

}  // namespace jobqueue::api

namespace jobqueue::api {

TEST_CASE("Cookie and Set-Cookie lines are dropped from a header block, nothing else", "[api]") {
  CHECK(WithoutCookies("GET /x HTTP/1.1\r\nHost: a\r\nCookie: a=b; ;;=; c\r\ncOOkie:z\r\nSet-Cookie: q\r\n"
                       "X-Cookie: kept\r\n\r\n") == "GET /x HTTP/1.1\r\nHost: a\r\nX-Cookie: kept\r\n\r\n");
  CHECK(WithoutCookies("GET /cookie: HTTP/1.1\r\n\r\n") == "GET /cookie: HTTP/1.1\r\n\r\n");
}

}  // namespace jobqueue::api
