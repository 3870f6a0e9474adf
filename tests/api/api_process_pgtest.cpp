// jobqueue-api under faults and as a real process: PostgreSQL stopped and
// started under it, the binary's access log, signals and bad configuration.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>

#include <catch2/catch.hpp>

#include "api/api_fixture.hpp"
#include "core/local_postgres.hpp"
#include "support/child_process.hpp"

namespace jobqueue::testing {
namespace {

using nlohmann::json;

int StatusOf(const HttpResponse& r) { return r.status; }

// The throwaway test server, which these tests stop and crash; null, with a
// warning, when the tests run against JOBQUEUE_TEST_DATABASE_URL.
core::LocalPostgres* LocalServerOrWarn() {
  auto* local = TestServer::Get().local();
  if (local == nullptr) WARN("JOBQUEUE_TEST_DATABASE_URL is set: cannot stop or crash that server, skipped");
  return local;
}

}  // namespace

TEST_CASE("the API answers 503 while PostgreSQL is down and recovers by itself", "[pg][api][faults]") {
  auto* local = LocalServerOrWarn();
  if (local == nullptr) return;
  ApiFixture api([](api::ApiConfig& c) { c.db_wait_seconds = 2; });
  REQUIRE(api.Post("/v1/jobs", {{"kind", "noop"}}).status == 201);
  REQUIRE(api.Get("/ready").status == 200);

  local->Stop();
  for (int i = 0; i < 3; ++i) {
    const auto r = api.Post("/v1/jobs", {{"kind", "noop"}});
    CHECK(r.status == 503);
    CHECK(r.ErrorCode() == "database_unavailable");
  }
  CHECK(api.Get("/v1/jobs/1").status == 503);
  CHECK(api.Get("/v1/jobs").status == 503);
  CHECK(api.Post("/v1/jobs/batch", {{"jobs", {{{"kind", "a"}}}}}).status == 503);
  CHECK(api.Get("/ready").status == 503);
  CHECK(api.Get("/health").status == 200);
  CHECK(api.Get("/metrics").status == 200);
  // Invalid input is still refused as such, without the database.
  CHECK(api.Post("/v1/jobs", {{"kind", 1}}).status == 400);

  local->Start();
  REQUIRE(WaitFor([&] { return StatusOf(api.Get("/ready")) == 200; }, 30000));
  REQUIRE(WaitFor([&] { return StatusOf(api.Post("/v1/jobs", {{"kind", "noop"}, {"idempotency_key", "after"}})) / 100 == 2; },
                  10000));
  for (int i = 0; i < 10; ++i) CHECK(api.Post("/v1/jobs", {{"kind", "noop"}}).status == 201);
  CHECK(api.Get("/v1/jobs/1").status == 200);
  CHECK(api.JobCount() == 12);
}

TEST_CASE("sessions that sat idle across a database crash write at once when it is back", "[pg][api][faults]") {
  auto* local = LocalServerOrWarn();
  if (local == nullptr) return;
  ApiFixture api([](api::ApiConfig& c) { c.db_wait_seconds = 2; });
  // Every kind of work opens the pool's sessions, then they sit idle.
  REQUIRE(api.Post("/v1/jobs", {{"kind", "noop"}}).status == 201);
  REQUIRE(api.Post("/v1/jobs/batch", {{"jobs", {{{"kind", "a"}}}}}).status == 201);
  REQUIRE(api.Get("/v1/jobs").status == 200);

  api.db().Sql("CHECKPOINT");  // the test server commits asynchronously: keep what was written
  local->Crash();
  local->Start();
  // Back: a new session works (this one is not the API's).
  REQUIRE(WaitFor([&] {
    try {
      return api.JobCount() == 2;
    } catch (const std::exception&) {
      return false;
    }
  }, 30000));

  // The API's sessions never saw the crash until now: the first write must
  // not be the one that finds out.
  const auto one = api.Post("/v1/jobs", {{"kind", "noop"}});
  CHECK(one.status == 201);
  CHECK(one.ErrorCode() == "");
  const auto batch = api.Post("/v1/jobs/batch", {{"jobs", {{{"kind", "a"}}, {{"kind", "b"}}}}});
  CHECK(batch.status == 201);
  CHECK(api.Post("/v1/jobs/1/cancel", json::object()).status == 200);
  CHECK(api.JobCount() == 5);
}

// Holds every insert of a job of kind `slow` for 30 s inside its statement,
// so a test can cut the session while the write is in flight.
void SlowInserts(TestDatabase& db) {
  db.Sql(R"(CREATE FUNCTION public.slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_sleep(30); RETURN NEW; END $$)");
  db.Sql("CREATE TRIGGER slow_insert BEFORE INSERT ON jobqueue.jobs FOR EACH ROW "
         "WHEN (NEW.kind = 'slow') EXECUTE FUNCTION public.slow_insert()");
}

// The backend that sleeps in slow_insert, once the write reached it.
int SleepingBackend(TestDatabase& db) {
  int pid = 0;
  WaitFor([&] {
    const auto rows = db.Sql("SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep'");
    if (rows.empty()) return false;
    pid = rows[0][0].as<int>();
    return true;
  }, 10000);
  return pid;
}

TEST_CASE("a write whose session is cut off mid-statement is answered outcome_unknown, not database_unavailable",
          "[pg][api][faults]") {
  auto* local = LocalServerOrWarn();
  if (local == nullptr) return;
  ApiFixture api([](api::ApiConfig& c) { c.db_wait_seconds = 40; });
  SlowInserts(api.db());
  const int port = api.port();
  auto post = [port](const json& body) {
    return std::async(std::launch::async, [port, body] { return Request(port, "POST", "/v1/jobs", body.dump()); });
  };

  // libpqxx 6.4 reports a session the server ended (FATAL, then the end of
  // the stream) the same way as one cut off without a word; and a FATAL can
  // come after the commit (immediate shutdown, a terminated wait for a
  // synchronous standby). Either way, only "unknown" is true.
  SECTION("the session is terminated while the insert runs") {
    auto answer = post({{"kind", "slow"}});
    const int pid = SleepingBackend(api.db());
    REQUIRE(pid > 0);
    api.db().Sql("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
    const auto r = answer.get();
    CHECK(r.status == 503);
    CHECK(r.ErrorCode() == "outcome_unknown");
  }
  SECTION("the backend dies mid-statement (a crash): the API cannot know, and says so") {
    auto answer = post({{"kind", "slow"}, {"idempotency_key", "k1"}});
    const int pid = SleepingBackend(api.db());
    REQUIRE(pid > 0);
    REQUIRE(::kill(pid, SIGKILL) == 0);  // the server restarts every session, as after a crash
    const auto r = answer.get();
    CHECK(r.status == 503);
    CHECK(r.ErrorCode() == "outcome_unknown");
    CHECK(r.body.find("idempotency_key") != std::string::npos);
    // The advice holds: sent again with its key, the job is there once.
    REQUIRE(WaitFor([&] {
      try {
        api.db().Sql("DROP TRIGGER IF EXISTS slow_insert ON jobqueue.jobs");
        return true;
      } catch (const std::exception&) {
        return false;  // still recovering
      }
    }, 30000));
    REQUIRE(WaitFor([&] { return api.Post("/v1/jobs", {{"kind", "slow"}, {"idempotency_key", "k1"}}).status / 100 == 2; },
                    30000));
    CHECK(api.Post("/v1/jobs", {{"kind", "slow"}, {"idempotency_key", "k1"}}).status == 200);
    CHECK(api.db().Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE idempotency_key = 'k1'") == 1);
  }
}

TEST_CASE("jobqueue-api serves, logs one JSON line per request without the key, and stops on SIGTERM",
          "[pg][api][process]") {
  TestDatabase db;
  const int port = core::FreeLoopbackPort();
  const std::string key = "k3y-that-must-never-be-logged";
  ChildProcess proc(JOBQUEUE_API_PATH, {{"DATABASE_URL", db.dsn()},
                                        {"API_PORT", std::to_string(port)},
                                        {"API_BIND_ADDRESS", "127.0.0.1"},
                                        {"API_SECRET_KEY", key},
                                        {"LOG_FORMAT", "json"},
                                        {"LOG_LEVEL", "info"}});
  REQUIRE(WaitFor([&] { return StatusOf(Request(port, "GET", "/health")) == 200 || !proc.Running(); }, 20000));
  INFO(proc.Log());
  REQUIRE(proc.Running());
  const Headers auth = {{"Authorization", "Bearer " + key}};
  const auto created = Request(port, "POST", "/v1/jobs", R"({"kind":"noop","payload":{"x":1}})", auth);
  REQUIRE(created.status == 201);
  const auto id = created.Json()["id"].get<long long>();
  CHECK(Request(port, "GET", "/v1/jobs/" + std::to_string(id), "", auth).status == 200);
  CHECK(Request(port, "GET", "/v1/jobs/" + std::to_string(id), "", {{"Authorization", "Bearer " + key + "x"}}).status ==
        401);
  CHECK(Request(port, "GET", "/v1/jobs?state=nope", "", auth).status == 400);

  proc.Signal(SIGTERM);
  REQUIRE(proc.Wait(std::chrono::seconds(20)) == 0);
  CHECK(Request(port, "GET", "/health").status == -1);
  const std::string log = proc.Log();
  CHECK(log.find(key) == std::string::npos);
  CHECK(log.find("Bearer") == std::string::npos);

  int request_lines = 0;
  bool saw_created = false;
  std::size_t start = 0;
  while (start < log.size()) {
    const auto end = log.find('\n', start);
    const std::string line = log.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? log.size() : end + 1;
    if (line.empty()) continue;
    const auto j = json::parse(line, nullptr, false);
    INFO(line);
    REQUIRE(j.is_object());  // every line is JSON
    if (j.value("msg", "") != "request") continue;
    ++request_lines;
    CHECK(j["method"].is_string());
    CHECK(j["route"].is_string());
    CHECK(j["status"].is_number_integer());
    CHECK(j["duration_ms"].is_number());
    if (j["route"] == "/v1/jobs" && j["status"] == 201) {
      saw_created = true;
      CHECK(j["job_id"] == id);
    }
    if (j["route"] == "/v1/jobs/{id}") CHECK(j["job_id"] == id);
  }
  CHECK(saw_created);
  CHECK(request_lines >= 5);
}

TEST_CASE("jobqueue-api refuses bad configuration and a taken port, naming the variable", "[pg][api][process]") {
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"API_DB_POOL_SIZE", "0"}, {"API_PORT", "eighty"}, {"API_MAX_BODY_BYTES", "lots"}, {"LOG_LEVEL", "loud"}}) {
    ChildProcess proc(JOBQUEUE_API_PATH, {{name, value}, {"API_PORT", name == "API_PORT" ? value : "0"}});
    REQUIRE(proc.Wait(std::chrono::seconds(10)) == 2);
    CHECK(proc.Log().find(name) != std::string::npos);
  }
  // A port someone else listens on.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(listen(fd, 1) == 0);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const int port = ntohs(addr.sin_port);
  ChildProcess proc(JOBQUEUE_API_PATH, {{"API_PORT", std::to_string(port)}, {"API_BIND_ADDRESS", "127.0.0.1"}});
  const auto status = proc.Wait(std::chrono::seconds(10));
  close(fd);
  INFO(proc.Log());
  REQUIRE(status == 2);
  CHECK(proc.Log().find("API_PORT") != std::string::npos);
}

}  // namespace jobqueue::testing
