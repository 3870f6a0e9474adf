// The dashboard's files and JSON routes over real HTTP against an in-process
// ApiServer: the embedded files with their headers, redirects and 304s, open
// without the key while the data routes need it; workers, throughput, error
// groups and bulk retry/cancel as JSON, with bad input refused by name.
#include <catch2/catch.hpp>

#include "api/api_fixture.hpp"
#include "api/ui_files.hpp"

namespace jobqueue::testing {
namespace {

void MakeDead(ApiFixture& api, const std::string& kind, const std::string& error, int n) {
  api.db().Sql("INSERT INTO jobqueue.jobs (queue, kind, state, attempts, finished_at, last_error) "
               "SELECT 'default', '" + kind + "', 'dead', 1, now(), '" + error + "' FROM generate_series(1, " +
               std::to_string(n) + ")");
}

}  // namespace

TEST_CASE("the dashboard's files are served from the binary, open, with a strict policy", "[pg][api]") {
  ApiFixture api([](api::ApiConfig& c) { c.secret_key = "ui-key"; });
  REQUIRE(!api::EmbeddedUiFiles().empty());

  for (const char* root : {"/", "/ui"}) {
    auto r = api.Get(root);
    CHECK(r.status == 302);
    CHECK(r.headers["location"] == "/ui/");
  }
  auto index = api.Get("/ui/");  // no key: the files hold no data
  REQUIRE(index.status == 200);
  CHECK(index.headers["content-type"] == "text/html; charset=utf-8");
  CHECK(index.headers["content-security-policy"].find("default-src 'self'") != std::string::npos);
  CHECK(index.headers["x-content-type-options"] == "nosniff");
  CHECK(index.body.find("<html") != std::string::npos);
  // Nothing the page loads comes from elsewhere (the SVG namespace is a
  // name, never fetched).
  for (const auto& f : api::EmbeddedUiFiles()) {
    INFO(f.path);
    std::string text = f.content;
    const std::string svg_ns = "http://www.w3.org/2000/svg";
    for (auto at = text.find(svg_ns); at != std::string::npos; at = text.find(svg_ns)) text.erase(at, svg_ns.size());
    CHECK(text.find("http://") == std::string::npos);
    CHECK(text.find("https://") == std::string::npos);
    const auto r = api.Get(std::string("/ui/") + f.path);
    CHECK(r.status == 200);
    CHECK(r.body == f.content);
  }
  // Revalidation is a 304 with the same ETag.
  const auto etag = index.headers["etag"];
  REQUIRE(!etag.empty());
  CHECK(api.Get("/ui/", {{"If-None-Match", etag}}).status == 304);
  CHECK(api.Get("/ui/", {{"If-None-Match", "\"other\""}}).status == 200);

  CHECK(api.Get("/ui/nothing.js").status == 404);
  CHECK(api.Get("/ui/../ui/index.html").status == 404);
  CHECK(api.Get("/ui/%2e%2e/index.html").status == 404);
  CHECK(api.PostText("/ui/", "x").status == 405);
  // The data stays behind the key.
  CHECK(api.Get("/v1/workers").status == 401);
  CHECK(api.Get("/v1/throughput").status == 401);
  CHECK(api.Get("/v1/errors").status == 401);
  CHECK(api.Post("/v1/jobs/retry", nlohmann::json::object()).status == 401);
  api.bearer = "ui-key";
  CHECK(api.Get("/v1/workers").status == 200);
}

TEST_CASE("GET /v1/workers, /v1/throughput and /v1/errors answer as documented", "[pg][api]") {
  ApiFixture api;
  api.db().Sql("INSERT INTO jobqueue.workers (id, queues, concurrency, running, started_at) "
               "VALUES ('pod-1', '{default,images}', 8, 3, now() - interval '1 minute')");
  api.db().Sql("INSERT INTO jobqueue.workers (id, queues, concurrency, running, started_at, seen_at) "
               "VALUES ('pod-old', '{default}', 1, 0, now() - interval '1 day', now() - interval '1 hour')");
  auto workers = api.Get("/v1/workers").Json()["workers"];
  REQUIRE(workers.size() == 1);
  CHECK(workers[0]["id"] == "pod-1");
  CHECK(workers[0]["queues"] == nlohmann::json::array({"default", "images"}));
  CHECK(workers[0]["running"] == 3);
  CHECK(workers[0]["stopped_at"].is_null());
  CHECK(api.Get("/v1/workers?within_seconds=7200").Json()["workers"].size() == 2);
  CHECK(api.Get("/v1/workers?within_seconds=0").ErrorField() == "within_seconds");
  CHECK(api.Get("/v1/workers?within_seconds=-1").ErrorField() == "within_seconds");
  CHECK(api.Get("/v1/workers?since=1").ErrorField() == "since");

  MakeDead(api, "fail", "boom", 3);
  const auto throughput = api.Get("/v1/throughput?seconds=60").Json();
  CHECK(throughput["step_seconds"] == 10);
  REQUIRE(throughput["buckets"].size() == 6);
  CHECK(throughput["buckets"].back()["dead"].get<int>() + throughput["buckets"][4]["dead"].get<int>() == 3);
  CHECK(api.Get("/v1/throughput").Json()["buckets"].size() == 30);
  CHECK(api.Get("/v1/throughput?seconds=901").ErrorField() == "seconds");
  CHECK(api.Get("/v1/throughput?seconds=1e3").ErrorField() == "seconds");
  CHECK(api.Get("/v1/throughput?queue=other").Json()["buckets"].back()["dead"] == 0);

  const auto errors = api.Get("/v1/errors").Json();
  REQUIRE(errors["groups"].size() == 1);
  CHECK(errors["groups"][0]["error"] == "boom");
  CHECK(errors["groups"][0]["jobs"] == 3);
  CHECK(errors["complete"] == true);
  CHECK(api.Get("/v1/errors?kind=other").Json()["groups"].empty());
  CHECK(api.Get("/v1/errors?state=dead").ErrorField() == "state");
  CHECK(api.Get("/v1/errors?kind=" + std::string(200, 'k')).ErrorField() == "kind");
}

TEST_CASE("POST /v1/jobs/retry and /v1/jobs/cancel change exactly the filtered jobs", "[pg][api]") {
  ApiFixture api;
  MakeDead(api, "fail", "error A", 3);
  MakeDead(api, "fail", "error B", 2);
  auto r = api.Post("/v1/jobs/retry", {{"error", "error A"}});
  REQUIRE(r.status == 200);
  CHECK(r.Json() == nlohmann::json({{"changed", 3}, {"more", false}}));
  CHECK(api.db().Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE state = 'queued' AND last_error = 'error A'") == 3);
  CHECK(api.db().Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE state = 'dead' AND last_error = 'error B'") == 2);
  r = api.Post("/v1/jobs/retry", {{"state", "dead"}, {"limit", 1}});
  CHECK(r.Json() == nlohmann::json({{"changed", 1}, {"more", true}}));

  // Cancel the queued ones of one kind only.
  for (int i = 0; i < 2; ++i) api.Post("/v1/jobs", {{"kind", "other"}, {"queue", "parked"}});
  r = api.Post("/v1/jobs/cancel", {{"kind", "fail"}, {"queue", "default"}});
  CHECK(r.Json()["changed"] == 4);
  CHECK(api.db().Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE state = 'queued'") == 2);

  // Bad input, named.
  CHECK(api.Post("/v1/jobs/retry", {{"state", "succeeded"}}).ErrorField() == "state");
  CHECK(api.Post("/v1/jobs/cancel", {{"state", "dead"}}).ErrorField() == "state");
  CHECK(api.Post("/v1/jobs/cancel", {{"error", "x"}}).ErrorField() == "error");
  CHECK(api.Post("/v1/jobs/retry", {{"limit", 0}}).ErrorField() == "limit");
  CHECK(api.Post("/v1/jobs/retry", {{"limit", 100001}}).ErrorField() == "limit");
  CHECK(api.Post("/v1/jobs/retry", {{"limit", "10"}}).ErrorField() == "limit");
  CHECK(api.Post("/v1/jobs/retry", {{"queue", ""}}).ErrorField() == "queue");
  CHECK(api.Post("/v1/jobs/retry", {{"error", std::string(801, 'e')}}).ErrorField() == "error");
  CHECK(api.Post("/v1/jobs/retry", nlohmann::json::array()).ErrorField() == "body");
  CHECK(api.PostText("/v1/jobs/retry", "{").ErrorField() == "body");
  CHECK(api.PostText("/v1/jobs/retry", "{}", {{"Content-Type", "text/plain"}}).status == 415);
  CHECK(api.Post("/v1/jobs/retry", {{"state", nullptr}}).status == 200);  // null: the default
  CHECK(api.db().Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE state = 'dead'") == 0);
}

}  // namespace jobqueue::testing
