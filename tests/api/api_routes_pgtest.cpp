// Every route of the REST API over real HTTP on loopback, against a real
// PostgreSQL: what it answers when things are right, and when they are not.
#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "api/api_fixture.hpp"
#include "core/pg/connection.hpp"
#include "core/migrator.hpp"
#include "core/queue.hpp"

namespace jobqueue::testing {
namespace {

using nlohmann::json;

json Job(const HttpResponse& r) {
  INFO(r.status << " " << r.body);
  REQUIRE(r.Json().is_object());
  return r.Json();
}

}  // namespace

TEST_CASE("POST /v1/jobs creates a job and answers 201 with it", "[pg][api]") {
  ApiFixture api;
  const auto r = api.Post("/v1/jobs", {{"kind", "thumbnail"},
                                       {"payload", {{"w", 64}}},
                                       {"queue", "images"},
                                       {"priority", 2},
                                       {"max_attempts", 3}});
  REQUIRE(r.status == 201);
  const auto job = Job(r);
  CHECK(r.headers.at("content-type") == "application/json");
  CHECK(r.headers.at("location") == "/v1/jobs/" + std::to_string(job["id"].get<long long>()));
  CHECK(job["kind"] == "thumbnail");
  CHECK(job["payload"] == json{{"w", 64}});
  CHECK(job["queue"] == "images");
  CHECK(job["state"] == "queued");
  CHECK(job["priority"] == 2);
  CHECK(job["attempts"] == 0);
  CHECK(job["max_attempts"] == 3);
  CHECK(job["processed_by"].is_null());
  CHECK(job["run_at"].get<std::string>().back() == 'Z');
  CHECK(job["created_at"].get<std::string>()[10] == 'T');
  for (const char* key : {"id", "queue", "kind", "state", "payload", "priority", "attempts", "max_attempts", "run_at",
                          "created_at", "started_at", "finished_at", "lease_owner", "lease_expires_at",
                          "processed_by", "last_error", "result", "idempotency_key"}) {
    CHECK(job.contains(key));
  }
  CHECK(api.db().Scalar<std::string>("SELECT kind || '/' || queue || '/' || priority FROM jobqueue.jobs") ==
        "thumbnail/images/2");
  CHECK(api.metrics().Serialize().find("job_created_total{kind=\"thumbnail\",queue=\"images\"} 1") !=
        std::string::npos);
}

TEST_CASE("delay_seconds and run_at schedule the job from the database clock", "[pg][api]") {
  ApiFixture api;
  const auto delayed = Job(api.Post("/v1/jobs", {{"kind", "noop"}, {"delay_seconds", 3600}}));
  CHECK(api.db().Scalar<bool>("SELECT run_at BETWEEN now() + interval '3599 seconds' AND now() + interval '3601 seconds'"
                              " FROM jobqueue.jobs WHERE id = " + std::to_string(delayed["id"].get<long long>())));
  const auto at = Job(api.Post("/v1/jobs", {{"kind", "noop"}, {"run_at", "2031-05-06T07:08:09+02:00"}}));
  CHECK(at["run_at"] == "2031-05-06T05:08:09.000000Z");
}

TEST_CASE("the same idempotency key again answers 200 with the original job", "[pg][api]") {
  ApiFixture api;
  const auto first = api.Post("/v1/jobs", {{"kind", "noop"}, {"idempotency_key", "order-42"}, {"payload", {{"n", 1}}}});
  REQUIRE(first.status == 201);
  const auto again = api.Post("/v1/jobs", {{"kind", "noop"}, {"idempotency_key", "order-42"}, {"payload", {{"n", 2}}}});
  REQUIRE(again.status == 200);
  CHECK(Job(again)["id"] == Job(first)["id"]);
  CHECK(Job(again)["payload"] == json{{"n", 1}});
  // Keys are per queue.
  CHECK(api.Post("/v1/jobs", {{"kind", "noop"}, {"idempotency_key", "order-42"}, {"queue", "other"}}).status == 201);
  CHECK(api.JobCount() == 2);
}

TEST_CASE("100 concurrent submissions with one idempotency key create one job", "[pg][api]") {
  ApiFixture api([](api::ApiConfig& c) { c.db_pool_size = 8; });
  std::vector<HttpResponse> answers(100);
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  for (int i = 0; i < 100; ++i) {
    threads.emplace_back([&, i] {
      while (!go) std::this_thread::yield();
      answers[i] = api.Post("/v1/jobs", {{"kind", "noop"}, {"idempotency_key", "once"}, {"payload", {{"i", i}}}});
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  int created = 0, existing = 0;
  std::set<long long> ids;
  for (const auto& a : answers) {
    INFO(a.status << " " << a.body);
    REQUIRE((a.status == 201 || a.status == 200));
    (a.status == 201 ? created : existing)++;
    ids.insert(a.Json()["id"].get<long long>());
  }
  CHECK(created == 1);
  CHECK(existing == 99);
  CHECK(ids.size() == 1);
  CHECK(api.JobCount() == 1);
}

TEST_CASE("invalid submissions answer 400 naming the field and store nothing", "[pg][api]") {
  ApiFixture api;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"payload":{}})", "kind"},
      {R"({"kind":5})", "kind"},
      {R"({"kind":"noop","priority":40000})", "priority"},
      {R"({"kind":"noop","priority":"high"})", "priority"},
      {R"({"kind":"noop","max_attempts":0})", "max_attempts"},
      {R"({"kind":"noop","run_at":"soon"})", "run_at"},
      {R"({"kind":"noop","run_at":"2030-01-01T00:00:00Z","delay_seconds":1})", "delay_seconds"},
      {R"({"kind":"noop","payload":"text"})", "payload"},
      {R"({"kind":"noop","extra":1})", "extra"},
      {R"({"kind":"noop")", "body"},
      {R"(not json)", "body"},
      {R"([])", "body"},
      {"", "body"},
  };
  for (const auto& [body, field] : cases) {
    const auto r = api.PostText("/v1/jobs", body);
    INFO(body << " -> " << r.status << " " << r.body);
    CHECK(r.status == 400);
    CHECK(r.ErrorField() == field);
    CHECK(!r.Json()["error"]["message"].get<std::string>().empty());
  }
  CHECK(api.JobCount() == 0);
}

TEST_CASE("a wrong content type is 415 and an oversized body 413", "[pg][api]") {
  ApiFixture api([](api::ApiConfig& c) { c.max_body_bytes = 4096; });
  auto r = api.PostText("/v1/jobs", R"({"kind":"noop"})", {{"Content-Type", "text/plain"}});
  CHECK(r.status == 415);
  CHECK(r.ErrorCode() == "unsupported_media_type");
  r = Request(api.port(), "POST", "/v1/jobs", R"({"kind":"noop"})", {{"X-Nothing", "1"}});
  CHECK(r.status == 201);  // the helper adds application/json; a raw request without it:
  r = SendRaw(api.port(), "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 15\r\n\r\n{\"kind\":\"noop\"}");
  CHECK(r.status == 415);
  const std::string big = R"({"kind":"noop","payload":{"x":")" + std::string(5000, 'x') + R"("}})";
  r = api.PostText("/v1/jobs", big);
  CHECK(r.status == 413);
  CHECK(r.ErrorCode() == "payload_too_large");
  // Declared far larger than anything the server holds: refused on the header.
  r = SendRaw(api.port(), "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Content-Length: 1099511627776\r\n\r\n{");
  CHECK(r.status == 413);
  CHECK(api.JobCount() == 1);
  CHECK(api.Get("/health").status == 200);
}

TEST_CASE("POST /v1/jobs/batch creates all jobs or none", "[pg][api]") {
  ApiFixture api;
  const auto r = api.Post("/v1/jobs/batch",
                          {{"jobs",
                            {{{"kind", "a"}},
                             {{"kind", "b"}, {"queue", "q2"}, {"delay_seconds", 60}},
                             {{"kind", "c"}, {"idempotency_key", "k"}},
                             {{"kind", "c"}, {"idempotency_key", "k"}}}}});
  REQUIRE(r.status == 201);
  const auto body = Job(r);
  REQUIRE(body["jobs"].size() == 4);
  CHECK(body["created"] == 3);
  CHECK(body["jobs"][0]["kind"] == "a");
  CHECK(body["jobs"][1]["queue"] == "q2");
  CHECK(body["jobs"][2]["id"] == body["jobs"][3]["id"]);
  CHECK(api.JobCount() == 3);

  const auto bad = api.Post("/v1/jobs/batch", {{"jobs", {{{"kind", "x"}}, {{"kind", "y"}, {"priority", 1e9}}}}});
  CHECK(bad.status == 400);
  CHECK(bad.ErrorField() == "jobs[1].priority");
  CHECK(api.Post("/v1/jobs/batch", {{"jobs", json::array()}}).status == 400);
  CHECK(api.PostText("/v1/jobs/batch", "{\"jobs\":[", {}).status == 400);
  CHECK(api.JobCount() == 3);
}

TEST_CASE("a batch larger than API_MAX_BATCH_JOBS is refused", "[pg][api]") {
  ApiFixture api([](api::ApiConfig& c) { c.max_batch_jobs = 3; });
  json jobs = json::array();
  for (int i = 0; i < 4; ++i) jobs.push_back({{"kind", "noop"}});
  const auto r = api.Post("/v1/jobs/batch", {{"jobs", jobs}});
  CHECK(r.status == 400);
  CHECK(r.ErrorField() == "jobs");
  CHECK(api.JobCount() == 0);
}

TEST_CASE("GET /v1/jobs/{id} shows state, attempts, timestamps, owner, error and result", "[pg][api]") {
  ApiFixture api;
  const auto id = Job(api.Post("/v1/jobs", {{"kind", "noop"}}))["id"].get<long long>();
  auto got = api.Get("/v1/jobs/" + std::to_string(id));
  REQUIRE(got.status == 200);
  CHECK(Job(got)["id"] == id);
  CHECK(Job(got)["lease_owner"].is_null());

  // A worker runs it (the queue core directly, as jobqueue-worker would).
  core::pg::Connection conn(api.db().dsn());
  core::Queue queue(conn);
  core::ClaimRequest claim;
  claim.worker_id = "pod-7";
  const auto claimed = queue.Claim(claim);
  REQUIRE(claimed.size() == 1);
  auto running = Job(api.Get("/v1/jobs/" + std::to_string(id)));
  CHECK(running["state"] == "running");
  CHECK(running["attempts"] == 1);
  CHECK(running["lease_owner"] == "pod-7");
  CHECK(running["processed_by"].is_null());
  CHECK(running["lease_expires_at"].is_string());
  CHECK(running["started_at"].is_string());
  REQUIRE(queue.Complete(claimed[0].lease, {{"ok", true}}) == core::WriteResult::kDone);
  const auto done = Job(api.Get("/v1/jobs/" + std::to_string(id)));
  CHECK(done["state"] == "succeeded");
  CHECK(done["result"] == json{{"ok", true}});
  CHECK(done["processed_by"] == "pod-7");
  CHECK(done["finished_at"].is_string());

  CHECK(api.Get("/v1/jobs/999999").status == 404);
  CHECK(api.Get("/v1/jobs/999999").ErrorCode() == "not_found");
  CHECK(api.Get("/v1/jobs/abc").ErrorField() == "id");
  CHECK(api.Get("/v1/jobs/0").status == 400);
  CHECK(api.Get("/v1/jobs/99999999999999999999").status == 400);
}

TEST_CASE("GET /v1/jobs pages newest first and its cursor is stable under inserts", "[pg][api]") {
  ApiFixture api;
  for (int i = 0; i < 25; ++i) {
    REQUIRE(api.Post("/v1/jobs", {{"kind", i % 2 ? "odd" : "even"}, {"queue", i % 3 ? "a" : "b"}}).status == 201);
  }
  std::vector<long long> seen;
  std::string next;
  int pages = 0;
  do {
    const auto r = api.Get("/v1/jobs?limit=10" + (next.empty() ? "" : "&after=" + next));
    REQUIRE(r.status == 200);
    const auto body = Job(r);
    for (const auto& job : body["jobs"]) seen.push_back(job["id"].get<long long>());
    next = body["next"].is_null() ? "" : body["next"].get<std::string>();
    // Jobs inserted while paging are newer than every cursor: never in a later page.
    REQUIRE(api.Post("/v1/jobs", {{"kind", "late"}}).status == 201);
    ++pages;
  } while (!next.empty() && pages < 10);
  CHECK(pages == 3);
  REQUIRE(seen.size() == 25);
  for (std::size_t i = 1; i < seen.size(); ++i) CHECK(seen[i] < seen[i - 1]);

  const auto odd = Job(api.Get("/v1/jobs?kind=odd&queue=a&limit=500"));
  for (const auto& job : odd["jobs"]) {
    CHECK(job["kind"] == "odd");
    CHECK(job["queue"] == "a");
  }
  CHECK(odd["jobs"].size() == 8);
  CHECK(odd["next"].is_null());
  CHECK(Job(api.Get("/v1/jobs?state=queued&limit=1"))["jobs"].size() == 1);
  CHECK(Job(api.Get("/v1/jobs?state=dead"))["jobs"].empty());
  CHECK(Job(api.Get("/v1/jobs?queue=no%20such"))["jobs"].empty());
  CHECK(api.Get("/v1/jobs?state=finished").ErrorField() == "state");
  CHECK(api.Get("/v1/jobs?limit=1000").ErrorField() == "limit");
  CHECK(api.Get("/v1/jobs?after=x").ErrorField() == "after");
  CHECK(api.Get("/v1/jobs?order=asc").ErrorField() == "order");
  CHECK(api.Get("/v1/jobs?queue=%zz").status == 400);
}

TEST_CASE("cancel and retry change state, and answer 409 when the state does not allow it", "[pg][api]") {
  ApiFixture api;
  const auto id = std::to_string(Job(api.Post("/v1/jobs", {{"kind", "noop"}}))["id"].get<long long>());
  auto r = api.Post("/v1/jobs/" + id + "/retry", json::object());
  CHECK(r.status == 409);
  CHECK(r.ErrorCode() == "conflict");
  r = api.Post("/v1/jobs/" + id + "/cancel", json::object());
  REQUIRE(r.status == 200);
  CHECK(Job(r)["state"] == "cancelled");
  CHECK(api.Post("/v1/jobs/" + id + "/cancel", json::object()).status == 409);
  r = Request(api.port(), "POST", "/v1/jobs/" + id + "/retry");  // no body at all
  REQUIRE(r.status == 200);
  CHECK(Job(r)["state"] == "queued");
  CHECK(api.Post("/v1/jobs/424242/cancel", json::object()).status == 404);
  CHECK(api.Post("/v1/jobs/x/retry", json::object()).status == 400);
}

TEST_CASE("GET /v1/queues reports depth per queue and state with the oldest queued age", "[pg][api]") {
  ApiFixture api;
  for (int i = 0; i < 3; ++i) api.Post("/v1/jobs", {{"kind", "noop"}, {"queue", "mail"}});
  api.Post("/v1/jobs", {{"kind", "noop"}, {"queue", "mail"}, {"delay_seconds", 600}});
  const auto cancelled = Job(api.Post("/v1/jobs", {{"kind", "noop"}, {"queue", "img"}}))["id"].get<long long>();
  api.Post("/v1/jobs/" + std::to_string(cancelled) + "/cancel", json::object());
  const auto body = Job(api.Get("/v1/queues"));
  REQUIRE(body["queues"].size() == 2);
  const auto& img = body["queues"][0];
  const auto& mail = body["queues"][1];
  CHECK(img["queue"] == "img");
  CHECK(img["states"]["cancelled"] == 1);
  CHECK(img["depth"] == 0);
  CHECK(mail["queue"] == "mail");
  CHECK(mail["states"]["queued"] == 4);
  CHECK(mail["depth"] == 3);
  CHECK(mail["oldest_queued_age_seconds"].get<double>() >= 0);
}

TEST_CASE("/health, /ready and /metrics answer, and /metrics has the API's metrics", "[pg][api]") {
  ApiFixture api;
  api.Post("/v1/jobs", {{"kind", "noop"}, {"queue", "mail"}});
  api.Get("/v1/jobs/77");
  CHECK(api.Get("/health").status == 200);
  const auto ready = api.Get("/ready");
  CHECK(ready.status == 200);
  CHECK(Job(ready)["schema_version"] == core::Migrator().LatestVersion());
  const auto metrics = api.Get("/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.headers.at("content-type").rfind("text/plain", 0) == 0);
  for (const char* line : {"job_queue_depth{queue=\"mail\"} 1",
                           "job_created_total{kind=\"noop\",queue=\"mail\"} 1",
                           "http_requests_total{method=\"POST\",route=\"/v1/jobs\",status=\"201\"} 1",
                           "http_requests_total{method=\"GET\",route=\"/v1/jobs/{id}\",status=\"404\"} 1",
                           "http_request_duration_seconds_bucket{method=\"GET\",route=\"/health\",status=\"200\",le="}) {
    CHECK(metrics.body.find(line) != std::string::npos);
  }
  // A queue that drained keeps its gauge, at 0.
  api.db().Sql("UPDATE jobqueue.jobs SET state = 'cancelled', finished_at = now()");
  CHECK(api.Get("/metrics").body.find("job_queue_depth{queue=\"mail\"} 0") != std::string::npos);
}

TEST_CASE("job_queue_depth is read from the database at most once per refresh interval", "[pg][api]") {
  ApiFixture api([](api::ApiConfig& c) { c.depth_refresh_seconds = 3600; });
  api.Post("/v1/jobs", {{"kind", "noop"}});
  CHECK(api.Get("/metrics").body.find("job_queue_depth{queue=\"default\"} 1") != std::string::npos);
  api.Post("/v1/jobs", {{"kind", "noop"}});
  CHECK(api.Get("/metrics").body.find("job_queue_depth{queue=\"default\"} 1") != std::string::npos);  // cached
}

TEST_CASE("/ready fails while the schema is not migrated", "[pg][api]") {
  TestDatabase empty(false);
  core::Metrics metrics;
  api::ApiConfig config;
  config.dsn = empty.dsn();
  config.bind_address = "127.0.0.1";
  config.port = 0;
  config.access_log = false;
  api::ApiServer server(config, metrics);
  server.Start();
  const auto r = Request(server.port(), "GET", "/ready");
  CHECK(r.status == 503);
  CHECK(r.ErrorCode() == "schema_mismatch");
  CHECK(Request(server.port(), "GET", "/health").status == 200);
  const auto submit = Request(server.port(), "POST", "/v1/jobs", R"({"kind":"noop"})");
  CHECK(submit.status == 503);
  CHECK(submit.ErrorCode() == "schema_mismatch");
}

TEST_CASE("with API_SECRET_KEY every /v1 route needs the bearer token; probes stay open", "[pg][api]") {
  ApiFixture api([](api::ApiConfig& c) { c.secret_key = "correct horse battery staple"; });
  for (const auto& auth : std::vector<Headers>{{},
                                               {{"Authorization", "Bearer wrong"}},
                                               {{"Authorization", "Bearer correct horse battery stapl"}},
                                               {{"Authorization", "Bearer correct horse battery staple!"}},
                                               {{"Authorization", "Basic Y29ycmVjdA=="}},
                                               {{"Authorization", "correct horse battery staple"}}}) {
    for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{{"POST", "/v1/jobs"},
                                                                                     {"GET", "/v1/jobs"},
                                                                                     {"GET", "/v1/jobs/1"},
                                                                                     {"POST", "/v1/jobs/1/cancel"},
                                                                                     {"GET", "/v1/queues"},
                                                                                     {"GET", "/v1/nothing"}}) {
      const auto r = Request(api.port(), method, path, method == "POST" ? R"({"kind":"noop"})" : "", auth);
      INFO(method << " " << path << " " << (auth.empty() ? "" : auth[0].second));
      CHECK(r.status == 401);
      CHECK(r.ErrorCode() == "unauthorized");
      CHECK(r.headers.count("www-authenticate") == 1);
      CHECK(r.body.find("staple") == std::string::npos);
    }
  }
  CHECK(api.JobCount() == 0);
  for (const char* open : {"/health", "/ready", "/metrics"}) CHECK(api.Get(open).status == 200);
  api.bearer = "correct horse battery staple";
  CHECK(api.Post("/v1/jobs", {{"kind", "noop"}}).status == 201);
  CHECK(Request(api.port(), "GET", "/v1/queues", "", {{"Authorization", "bearer   correct horse battery staple "}})
            .status == 200);
  CHECK(api.JobCount() == 1);
}

TEST_CASE("unknown routes answer 404 and known routes with a wrong method 405 with Allow", "[pg][api]") {
  ApiFixture api;
  auto r = api.Get("/v2/jobs");
  CHECK(r.status == 404);
  CHECK(r.ErrorCode() == "not_found");
  r = Request(api.port(), "DELETE", "/v1/jobs/1");
  CHECK(r.status == 405);
  CHECK(r.headers.at("allow") == "GET");
  r = api.Get("/v1/jobs/batch");
  CHECK(r.status == 405);
  CHECK(r.headers.at("allow") == "POST");
  CHECK(Request(api.port(), "PUT", "/v1/jobs").headers.at("allow") == "GET, POST");
  CHECK(api.Post("/health", json::object()).status == 405);
}

TEST_CASE("hostile but harmless headers do not stop a valid request", "[pg][api]") {
  ApiFixture api;
  const auto r = SendRaw(api.port(),
                         "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAccept: ;;;;\r\nUser-Agent: \xc3\x28\r\n"
                         "Content-Type: application/json; charset=utf-8\r\nContent-Length: 15\r\n\r\n{\"kind\":\"noop\"}");
  // Pistache cannot parse that Accept: refused as a malformed header, not a 415 or 500.
  CHECK(r.status == 400);
  CHECK(r.ErrorCode() == "malformed_header");
  const auto ok = SendRaw(api.port(),
                          "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nCookie: a=b; ;;=; c\r\nSet-Cookie: =\r\n"
                          "Content-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"kind\":\"noop\"}");
  CHECK(ok.status == 201);
  CHECK(api.JobCount() == 1);
}

}  // namespace jobqueue::testing
