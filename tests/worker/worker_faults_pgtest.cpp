// jobqueue-worker as a process, under the faults DESIGN.md promises to
// survive: SIGKILL while holding leases, SIGTERM drains (and a second signal),
// PostgreSQL stopped and started under load, leases shorter than the job,
// handler failures and timeouts, bad configuration, many workers racing.
// Every case counts the jobs at the end: none lost, none completed twice.
// Cases wait on conditions with deadlines, never on a bare sleep; the few
// sleeps below pace an enqueue stream or a retry, or are an outage's length.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "core/job_blobs.hpp"
#include "core/local_postgres.hpp"
#include "core/migrator.hpp"
#include "images/test_images.hpp"
#include "support/child_process.hpp"
#include "support/pg_fixture.hpp"

namespace jobqueue::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Env = std::map<std::string, std::string>;

// A jobqueue-worker process with its own metrics port. Short polls by
// default so tests that do not rely on NOTIFY stay fast.
struct WorkerProcess {
  std::string id;
  int port;
  std::unique_ptr<ChildProcess> process;

  WorkerProcess(const std::string& dsn, const std::string& worker_id, const Env& extra = {})
      : id(worker_id), port(core::FreeLoopbackPort()) {
    Env env = {{"DATABASE_URL", dsn},
               {"WORKER_ID", worker_id},
               {"WORKER_METRICS_PORT", std::to_string(port)},
               {"WORKER_POLL_INTERVAL_SECONDS", "0.1"},
               {"LOG_LEVEL", "info"},
               {"LOG_FORMAT", "json"}};
    for (const auto& [k, v] : extra) env[k] = v;
    process = std::make_unique<ChildProcess>(JOBQUEUE_WORKER_PATH, env);
  }

  // The /health body, or "" when nothing answered with 200.
  std::string Health() const {
    std::string body;
    return HttpGet(port, "/health", &body) == 200 ? body : "";
  }
  bool DatabaseUp() const { return Health().find("\"database\":\"up\"") != std::string::npos; }
  bool DatabaseDown() const { return Health().find("\"database\":\"down\"") != std::string::npos; }
  std::string Metrics() const {
    std::string body;
    return HttpGet(port, "/metrics", &body) == 200 ? body : "";
  }
  // Serving /health with a live session: its first claim went through.
  bool Ready() const { return DatabaseUp(); }
  bool LogHas(const std::string& text) const { return process->Log().find(text) != std::string::npos; }
};

struct ReaperProcess {
  int port;
  std::unique_ptr<ChildProcess> process;

  explicit ReaperProcess(const std::string& dsn, double interval = 0.2)
      : port(core::FreeLoopbackPort()) {
    process = std::make_unique<ChildProcess>(
        JOBQUEUE_REAPER_PATH, Env{{"DATABASE_URL", dsn},
                                  {"HOSTNAME", "reaper"},
                                  {"REAPER_INTERVAL_SECONDS", std::to_string(interval)},
                                  {"REAPER_METRICS_PORT", std::to_string(port)},
                                  {"LOG_LEVEL", "info"}});
  }
};

// Counts every transition into succeeded in public.completions, whoever
// caused it, so a test can tell "completed once" from "completed twice".
// Ad-hoc SQL that rides out a connection the test server's restart broke:
// TestDatabase reopens its session when the last one is closed.
pqxx::result SqlRetrying(TestDatabase& db, const std::string& sql) {
  for (int attempt = 1;; ++attempt) {
    try {
      return db.Sql(sql);
    } catch (const std::exception&) {
      if (attempt == 50) throw;
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
}

long Count(TestDatabase& db, const std::string& where) {
  return SqlRetrying(db, "SELECT count(*) FROM jobqueue.jobs WHERE " + where)[0][0].as<long>();
}

std::string IdList(TestDatabase& db, const std::string& where) {
  return SqlRetrying(db, "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM jobqueue.jobs WHERE " +
                             where)[0][0]
      .as<std::string>();
}

// Every job in the table succeeded, each exactly once, and no completion
// was recorded for a job that is not there.
void CheckEverySucceededExactlyOnce(TestDatabase& db, long expected_jobs) {
  const long jobs = Count(db, "true");
  CHECK(jobs == expected_jobs);
  CHECK(Count(db, "state <> 'succeeded'") == 0);
  const auto row = SqlRetrying(db,
                               "SELECT count(*), count(DISTINCT job_id), "
                               "count(*) FILTER (WHERE job_id NOT IN (SELECT id FROM jobqueue.jobs)) "
                               "FROM public.completions")[0];
  CHECK(row[0].as<long>() == expected_jobs);  // no job completed twice
  CHECK(row[1].as<long>() == expected_jobs);  // none lost
  CHECK(row[2].as<long>() == 0);
}

// Sum of the samples of `name` whose labels contain `labels` (may be empty).
double MetricValue(const std::string& text, const std::string& name, const std::string& labels = "") {
  std::istringstream in(text);
  std::string line;
  double sum = 0;
  bool found = false;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.compare(0, name.size(), name) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != '{' && next != ' ') continue;
    if (!labels.empty() && line.find(labels) == std::string::npos) continue;
    const auto space = line.rfind(' ');
    sum += std::strtod(line.c_str() + space + 1, nullptr);
    found = true;
  }
  return found ? sum : -1;
}

// The worker's JSON log lines whose msg is `msg`.
std::vector<nlohmann::json> LogLines(const ChildProcess& process, const std::string& msg) {
  std::vector<nlohmann::json> out;
  std::istringstream in(process.Log());
  std::string line;
  while (std::getline(in, line)) {
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    if (parsed.is_object() && parsed.value("msg", "") == msg) out.push_back(std::move(parsed));
  }
  return out;
}

void EnqueueSleeps(TestDatabase& db, int n, double seconds, const std::string& queue = "default") {
  db.Sql("INSERT INTO jobqueue.jobs (queue, kind, payload) SELECT '" + queue +
         "', 'sleep', jsonb_build_object('seconds', " + std::to_string(seconds) + "::float8) "
         "FROM generate_series(1, " + std::to_string(n) + ")");
}

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

TEST_CASE("jobs of a worker killed with SIGKILL come back after the lease and complete exactly once",
          "[pg][worker][faults]") {
  TestDatabase db;
  CountCompletions(db);
  EnqueueSleeps(db, 8, 1.5);
  WorkerProcess a(db.dsn(), "worker-a",
                  {{"WORKER_CONCURRENCY", "4"}, {"WORKER_BATCH_SIZE", "4"},
                   {"WORKER_LEASE_DURATION_SECONDS", "2"}});
  REQUIRE(WaitFor([&] { return Count(db, "state = 'running' AND lease_owner = 'worker-a'") == 4; }, 10000));
  a.process->Signal(SIGKILL);
  REQUIRE(a.process->Wait(seconds(5)) == 128 + SIGKILL);

  // Nothing else runs yet, so these are exactly the attempts the kill cut off.
  const std::string killed = IdList(db, "state = 'running' AND lease_owner = 'worker-a'");
  REQUIRE(Count(db, "state = 'running'") == 4);
  REQUIRE(Count(db, "state = 'succeeded'") == 0);

  ReaperProcess reaper(db.dsn());
  WorkerProcess b(db.dsn(), "worker-b", {{"WORKER_CONCURRENCY", "8"}, {"WORKER_LEASE_DURATION_SECONDS", "5"}});
  // Lease (2 s) + reaper pass + retry backoff (~2 s) + the 1.5 s job.
  REQUIRE(WaitFor([&] { return Count(db, "state = 'succeeded'") == 8; }, 15000));

  CheckEverySucceededExactlyOnce(db, 8);
  const std::string in_killed = "id IN (" + killed + ")";
  CHECK(Count(db, in_killed + " AND attempts >= 2 AND lease_owner = 'worker-b'") == 4);
  CHECK(Count(db, in_killed + " AND last_error LIKE 'lease expired%'") == 4);
  // The jobs the killed worker never claimed ran once, on B.
  CHECK(Count(db, "NOT " + in_killed + " AND attempts = 1 AND lease_owner = 'worker-b'") == 4);

  b.process->Signal(SIGTERM);
  reaper.process->Signal(SIGTERM);
  CHECK(ExitedCleanly(*b.process));
  CHECK(ExitedCleanly(*reaper.process));
}

TEST_CASE("SIGTERM lets running jobs finish and leaves the rest queued with exit code 0", "[pg][worker][faults]") {
  TestDatabase db;
  CountCompletions(db);
  EnqueueSleeps(db, 10, 1.0);
  WorkerProcess w(db.dsn(), "worker-drain",
                  {{"WORKER_CONCURRENCY", "2"}, {"WORKER_BATCH_SIZE", "2"},
                   {"WORKER_LEASE_DURATION_SECONDS", "5"}, {"WORKER_SHUTDOWN_GRACE_SECONDS", "25"}});
  REQUIRE(WaitFor([&] { return Count(db, "state = 'running'") == 2; }, 10000));
  const std::string in_flight = IdList(db, "state = 'running'");
  w.process->Signal(SIGTERM);
  const auto signalled = std::chrono::steady_clock::now();
  REQUIRE(ExitedCleanly(*w.process));
  INFO("drain took " << SecondsSince(signalled) << " s");
  INFO(w.process->Log());

  // In-flight jobs finished; nothing else was claimed once the signal came.
  // (A claimed job whose handler had not started yet, likely in a slow,
  // e.g. sanitized, build, was handed back instead.)
  const long succeeded = Count(db, "state = 'succeeded'");
  CHECK(succeeded >= 1);
  CHECK(Count(db, "id IN (" + in_flight + ") AND state = 'succeeded' AND attempts = 1") == succeeded);
  CHECK(Count(db, "state = 'running'") == 0);
  // Not yet claimed, or handed back unstarted: queued, attempts untouched, no lease.
  CHECK(Count(db, "state = 'queued'") == 10 - succeeded);
  CHECK(Count(db, "state = 'queued' AND attempts = 0 AND lease_token IS NULL AND lease_expires_at IS NULL "
                  "AND started_at IS NULL") == 10 - succeeded);
  CHECK(db.Scalar<long>("SELECT count(*) FROM public.completions") == succeeded);
  CHECK(w.LogHas("signal received; draining"));
  CHECK(w.LogHas("worker stopped"));
  CHECK(w.LogHas("\"jobs_succeeded\":" + std::to_string(succeeded)));
}

TEST_CASE("SIGTERM hands jobs claimed but not yet started back with their attempt taken back",
          "[pg][worker][faults]") {
  // Claimed-but-unstarted is a narrow window (claims never exceed idle
  // executors), so drain a busy worker of very short jobs with many
  // sessions until a drain lands in it; most rounds do.
  long released_total = 0;
  for (int round = 0; round < 5 && released_total == 0; ++round) {
    TestDatabase db;
    CountCompletions(db);
    EnqueueSleeps(db, 5000, 0.002);
    WorkerProcess w(db.dsn(), "worker-busy",
                    {{"WORKER_CONCURRENCY", "32"}, {"WORKER_BATCH_SIZE", "8"}, {"WORKER_CONNECTIONS", "4"}});
    REQUIRE(WaitFor([&] { return Count(db, "state = 'succeeded'") >= 300; }, 10000));
    w.process->Signal(SIGTERM);
    REQUIRE(ExitedCleanly(*w.process));

    const auto stopped = LogLines(*w.process, "worker stopped");
    REQUIRE(stopped.size() == 1);
    const long succeeded = Count(db, "state = 'succeeded'");
    std::string released;  // ids the log says were handed back, comma-separated
    long released_lines = 0;
    for (const auto& line : LogLines(*w.process, "handed back unstarted jobs")) {
      ++released_lines;
      for (const auto& id : line["jobs"]) released += (released.empty() ? "" : ",") + std::to_string(id.get<long>());
    }
    INFO("round " << round << ": " << succeeded << " succeeded; handed back: " << released);
    CHECK(stopped[0].value("jobs_succeeded", -1L) == succeeded);
    CHECK(Count(db, "state = 'running'") == 0);
    CHECK(Count(db, "state = 'queued'") == 5000 - succeeded);
    // Never claimed, or handed back: queued with no attempt counted and no lease.
    CHECK(Count(db, "state = 'queued' AND (attempts <> 0 OR lease_token IS NOT NULL OR started_at IS NOT NULL)") == 0);
    // No attempt was counted twice: a released attempt was taken back.
    CHECK(Count(db, "state = 'succeeded' AND attempts <> 1") == 0);
    CHECK(db.Scalar<long>("SELECT count(*) FROM public.completions") == succeeded);
    CHECK(db.Scalar<long>("SELECT count(DISTINCT job_id) FROM public.completions") == succeeded);
    if (!released.empty()) {
      // A handed-back job is queued again. (Releases wait until no claim is
      // on the wire, which could otherwise take a just-released job again.)
      CHECK(Count(db, "id IN (" + released + ") AND NOT (state = 'queued' AND attempts = 0)") == 0);
      CHECK(stopped[0].value("jobs_released", -1L) ==
            db.Scalar<long>("SELECT count(*) FROM unnest('{" + released + "}'::bigint[])"));
      released_total += released_lines;
    }
  }
  if (released_total == 0) WARN("no drain landed between a claim and its handlers starting");
}

TEST_CASE("a second SIGTERM during the drain exits 1 at once and the leases are left to expire",
          "[pg][worker][faults]") {
  TestDatabase db;
  EnqueueSleeps(db, 2, 10.0);
  WorkerProcess w(db.dsn(), "worker-impatient",
                  {{"WORKER_CONCURRENCY", "2"}, {"WORKER_LEASE_DURATION_SECONDS", "1"},
                   {"WORKER_SHUTDOWN_GRACE_SECONDS", "25"}});
  REQUIRE(WaitFor([&] { return Count(db, "state = 'running'") == 2; }, 10000));
  // Claimed is not yet started: a drain hands unstarted jobs back and could
  // end before the second signal. Give the handlers time to start (CI's
  // sanitized build once lost this race).
  std::this_thread::sleep_for(std::chrono::seconds(1));
  w.process->Signal(SIGTERM);
  REQUIRE(WaitFor([&] { return w.LogHas("signal received; draining"); }, 5000));
  // Still draining: the 10 s jobs hold it.
  REQUIRE(w.process->Running());
  const auto second = std::chrono::steady_clock::now();
  w.process->Signal(SIGTERM);
  REQUIRE(w.process->Wait(seconds(3)) == 1);
  CHECK(SecondsSince(second) < 1.0);
  CHECK(w.LogHas("second signal"));
  CHECK_FALSE(w.LogHas("worker stopped"));

  // Nothing was written for the abandoned attempts; their leases lapse and
  // the reaper hands them back: not lost. (A job whose handler had not yet
  // started when the first signal came was handed back by the drain, which
  // a slow, e.g. sanitized, build makes likely.)
  const long abandoned = Count(db, "state = 'running' AND lease_owner = 'worker-impatient'");
  const long released = Count(db, "state = 'queued' AND attempts = 0 AND last_error IS NULL");
  CHECK(abandoned >= 1);
  CHECK(abandoned + released == 2);
  ReaperProcess reaper(db.dsn());
  CHECK(WaitFor([&] { return Count(db, "state = 'queued' AND last_error LIKE 'lease expired%'") == abandoned; },
                5000));
  CHECK(Count(db, "state = 'queued'") == 2);
}

TEST_CASE("two workers ride out a PostgreSQL stop and start without losing or repeating a job",
          "[pg][worker][faults]") {
  auto* local = TestServer::Get().local();
  if (!local) {
    WARN("needs the throwaway server (JOBQUEUE_TEST_DATABASE_URL is set)");
    return;
  }
  TestDatabase db;
  CountCompletions(db);
  db.Sql("INSERT INTO jobqueue.jobs (kind, payload) "
         "SELECT 'sleep', jsonb_build_object('seconds', round((0.01 + random() * 0.04)::numeric, 3)) "
         "FROM generate_series(1, 300)");
  const Env env = {{"WORKER_CONCURRENCY", "4"}, {"WORKER_BATCH_SIZE", "4"},
                   {"WORKER_LEASE_DURATION_SECONDS", "10"}};
  WorkerProcess a(db.dsn(), "worker-a", env);
  WorkerProcess b(db.dsn(), "worker-b", env);

  // A steady stream of enqueues through the SQL function (one NOTIFY each),
  // from its own session, carrying on through the outage.
  std::atomic<bool> stop_stream{false};
  std::atomic<int> stream_ok{0}, stream_failed{0};
  std::thread stream([&] {
    std::unique_ptr<pqxx::connection> conn;
    while (!stop_stream) {
      try {
        if (!conn || !conn->is_open()) conn = std::make_unique<pqxx::connection>(db.dsn());
        pqxx::nontransaction tx(*conn);
        tx.exec("SELECT jobqueue.enqueue('sleep', '{\"seconds\": 0.02}'::jsonb)");
        ++stream_ok;
      } catch (const std::exception&) {
        conn.reset();
        ++stream_failed;
      }
      std::this_thread::sleep_for(milliseconds(20));  // the stream's rate, not synchronisation
    }
  });
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } joiner{stop_stream, stream};

  REQUIRE(WaitFor([&] { return Count(db, "state = 'succeeded'") >= 80; }, 10000));
  REQUIRE(Count(db, "state = 'queued'") > 50);  // mid-run, not at the tail
  local->Stop();
  CHECK(WaitFor([&] { return a.DatabaseDown() && b.DatabaseDown(); }, 5000));
  // The outage itself.
  std::this_thread::sleep_for(seconds(2));
  CHECK(a.process->Running());
  CHECK(b.process->Running());
  const int enqueued_before_restart = stream_ok;
  local->Start();

  REQUIRE(WaitFor([&] { return a.DatabaseUp() && b.DatabaseUp(); }, 15000));
  REQUIRE(WaitFor([&] { return stream_ok >= enqueued_before_restart + 20; }, 5000));
  stop_stream = true;
  stream.join();
  INFO("stream: " << stream_ok << " enqueued, " << stream_failed << " refused while the server was down");

  REQUIRE(WaitFor([&] { return Count(db, "state <> 'succeeded'") == 0; }, 15000));
  const long total = Count(db, "true");
  CHECK(total >= 300 + enqueued_before_restart + 20);
  CheckEverySucceededExactlyOnce(db, total);
  // Nothing had to wait for a lease to lapse: the workers wrote every outcome themselves.
  CHECK(Count(db, "last_error IS NOT NULL") == 0);

  CHECK(a.process->Running());
  CHECK(b.process->Running());
  CHECK(a.LogHas("database reachable again"));
  CHECK(b.LogHas("database reachable again"));
  CHECK(a.DatabaseUp());
  CHECK(b.DatabaseUp());
  a.process->Signal(SIGTERM);
  b.process->Signal(SIGTERM);
  CHECK(ExitedCleanly(*a.process));
  CHECK(ExitedCleanly(*b.process));
}

TEST_CASE("heartbeats keep a lease shorter than the job and it completes on its first attempt",
          "[pg][worker][faults]") {
  TestDatabase db;
  CountCompletions(db);
  // A reaper that would reclaim the job the moment its lease lapsed.
  ReaperProcess reaper(db.dsn());
  WorkerProcess w(db.dsn(), "worker-hb", {{"WORKER_CONCURRENCY", "1"}, {"WORKER_LEASE_DURATION_SECONDS", "1"}});
  EnqueueSleeps(db, 1, 3.0);
  REQUIRE(WaitFor([&] { return Count(db, "state = 'succeeded'") == 1; }, 10000));
  CHECK(Count(db, "attempts = 1 AND lease_owner = 'worker-hb' AND last_error IS NULL") == 1);
  CHECK(db.Scalar<double>("SELECT extract(epoch FROM finished_at - started_at) FROM jobqueue.jobs") >= 3.0);
  CheckEverySucceededExactlyOnce(db, 1);
  CHECK_FALSE(w.LogHas("lease lost"));
}

TEST_CASE("a worker whose lease was reclaimed cannot complete the job another worker completed",
          "[pg][worker][faults]") {
  TestDatabase db;
  CountCompletions(db);
  // Heartbeats far apart: A's 1 s lease lapses while its 3 s job runs.
  WorkerProcess a(db.dsn(), "worker-a",
                  {{"WORKER_CONCURRENCY", "1"}, {"WORKER_LEASE_DURATION_SECONDS", "1"},
                   {"WORKER_HEARTBEAT_SECONDS", "3600"}});
  REQUIRE(WaitFor([&] { return a.Ready(); }, 10000));
  EnqueueSleeps(db, 1, 3.0);
  REQUIRE(WaitFor([&] { return Count(db, "state = 'running' AND lease_owner = 'worker-a'") == 1; }, 5000));
  const auto a_started = std::chrono::steady_clock::now();

  ReaperProcess reaper(db.dsn());
  WorkerProcess b(db.dsn(), "worker-b", {{"WORKER_CONCURRENCY", "1"}});
  REQUIRE(WaitFor([&] { return Count(db, "state = 'queued' AND last_error LIKE 'lease expired%'") == 1; }, 5000));
  // Skip the retry backoff so B, not A once its handler returns, takes the
  // job while A still runs its (now fenced) attempt.
  db.Sql("UPDATE jobqueue.jobs SET run_at = now() WHERE state = 'queued'");
  REQUIRE(WaitFor([&] { return Count(db, "state = 'running' AND lease_owner = 'worker-b'") == 1; }, 5000));
  CHECK(SecondsSince(a_started) < 3.0);  // A's handler is still sleeping

  // A finishes first (it started earlier); its completion is refused.
  REQUIRE(WaitFor([&] { return a.LogHas("lease lost"); }, 6000));
  CHECK(Count(db, "state = 'running' AND lease_owner = 'worker-b'") == 1);
  REQUIRE(WaitFor([&] { return Count(db, "state = 'succeeded'") == 1; }, 6000));
  CheckEverySucceededExactlyOnce(db, 1);
  CHECK(Count(db, "lease_owner = 'worker-b' AND attempts = 2") == 1);
  CHECK(db.Scalar<std::string>("SELECT owner FROM public.completions") == "worker-b");
  CHECK(a.LogHas("lease lost; result not written"));
}

TEST_CASE("an idle worker starts a notified job long before its next poll", "[pg][worker][faults]") {
  TestDatabase db;
  WorkerProcess w(db.dsn(), "worker-idle", {{"WORKER_POLL_INTERVAL_SECONDS", "5"}});
  REQUIRE(WaitFor([&] { return w.Ready(); }, 10000));
  // Each job is enqueued once the previous one is done: the completion's
  // round also claimed (and found nothing), so the worker's next poll is
  // 5 s away and only the NOTIFY can start the job sooner.
  for (int i = 0; i < 3; ++i) {
    const auto id = db.Scalar<long>("SELECT jobqueue.enqueue('noop', '{}'::jsonb)");
    const std::string where = "id = " + std::to_string(id);
    REQUIRE(WaitFor([&] { return Count(db, where + " AND state = 'succeeded'") == 1; }, 4000));
    const double delay =
        db.Scalar<double>("SELECT extract(epoch FROM started_at - created_at) FROM jobqueue.jobs WHERE " + where);
    INFO("job " << i << " started " << delay << " s after it was enqueued");
    CHECK(delay < 1.0);
  }
  // The control: a plain INSERT sends no NOTIFY and waits for the poll.
  db.Sql("INSERT INTO jobqueue.jobs (queue, kind) VALUES ('default', 'noop')");
  CHECK_FALSE(WaitFor([&] { return Count(db, "state = 'succeeded'") == 4; }, 1000));
  CHECK(WaitFor([&] { return Count(db, "state = 'succeeded'") == 4; }, 6000));
}

TEST_CASE("handler failures and timeouts through the binary are recorded on the job",
          "[pg][worker][faults]") {
  TestDatabase db;
  WorkerProcess w(db.dsn(), "worker-outcomes",
                  {{"WORKER_CONCURRENCY", "4"}, {"WORKER_JOB_TIMEOUT_SECONDS", "0.5"}});
  REQUIRE(WaitFor([&] { return w.Ready(); }, 10000));
  auto enqueue = [&](const std::string& kind, const std::string& payload) {
    return std::to_string(db.Scalar<long>("SELECT jobqueue.enqueue('" + kind + "', '" + payload + "'::jsonb)"));
  };
  const auto permanent = enqueue("fail", R"({"permanent": true, "message": "bad input, never retry"})");
  const auto retryable = enqueue("fail", R"({"permanent": false, "message": "try again later"})");
  const auto unknown = enqueue("no_such_kind", "{}");
  const auto slow = enqueue("sleep", R"({"seconds": 5})");

  // Retried jobs come back after ~2 s of backoff: wait for the first failure
  // to be recorded, while attempts is still 1.
  const std::string failed_once =
      "state = 'queued' AND attempts = 1 AND last_error IS NOT NULL AND run_at > now() AND id = ";
  REQUIRE(WaitFor([&] { return Count(db, "state = 'dead' AND id = " + permanent) == 1; }, 5000));
  CHECK(Count(db, "attempts = 1 AND last_error = 'bad input, never retry' AND finished_at IS NOT NULL AND id = " +
                      permanent) == 1);
  REQUIRE(WaitFor([&] { return Count(db, failed_once + retryable) == 1; }, 5000));
  CHECK(db.Scalar<std::string>("SELECT last_error FROM jobqueue.jobs WHERE id = " + retryable) == "try again later");
  REQUIRE(WaitFor([&] { return Count(db, failed_once + unknown) == 1; }, 5000));
  CHECK(db.Scalar<std::string>("SELECT last_error FROM jobqueue.jobs WHERE id = " + unknown)
            .find("no_such_kind") != std::string::npos);
  REQUIRE(WaitFor([&] { return Count(db, failed_once + slow) == 1; }, 5000));
  const auto slow_row = db.Sql("SELECT last_error, extract(epoch FROM now() - started_at) FROM jobqueue.jobs "
                               "WHERE id = " + slow)[0];
  CHECK(slow_row[0].as<std::string>().find("timed out") != std::string::npos);
  CHECK(slow_row[1].as<double>() < 3.0);  // given up on long before the 5 s sleep ended
  CHECK(Count(db, "state IN ('running', 'succeeded')") == 0);
}

TEST_CASE("the worker refuses bad configuration with exit code 2 naming the variable", "[worker][faults]") {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"WORKER_CONCURRENCY", "0"},
      {"WORKER_BATCH_SIZE", "abc"},
      {"WORKER_LEASE_DURATION_SECONDS", "-1"},
      {"WORKER_POLL_INTERVAL_SECONDS", "0.001"},
      {"WORKER_METRICS_PORT", "70000"},
      {"LOG_FORMAT", "xml"},
      {"MAX_IMAGE_PIXELS", "0"},
      {"IMAGE_FETCH_MAX_BYTES", "lots"},
      {"IMAGE_FETCH_ALLOW_PRIVATE", "perhaps"},
      {"WORKER_PREFETCH_MAX_WAIT_SECONDS", "-1"},
      {"WORKER_PREFETCH_MAX_WAIT_SECONDS", "60"},  // more than a tenth of the 300 s lease
      {"JOB_RETENTION_HOURS", "-1"},
      {"WORKER_ID", std::string(254, 'w')},
  };
  for (const auto& [name, value] : bad) {
    ChildProcess p(JOBQUEUE_WORKER_PATH, {{name, value}, {"DATABASE_URL", "host=127.0.0.1 port=1"}});
    INFO(name << "=" << value);
    REQUIRE(p.Wait(seconds(10)) == 2);
    INFO(p.Log());
    CHECK(p.Log().find(name) != std::string::npos);
  }
}

TEST_CASE("the worker answers /health and /metrics with its completion and lease counts",
          "[pg][worker][faults]") {
  TestDatabase db;
  WorkerProcess w(db.dsn(), "worker-metrics");
  REQUIRE(WaitFor([&] { return w.Ready(); }, 10000));
  const std::string health = w.Health();
  CHECK(health.find("\"status\":\"ok\"") != std::string::npos);
  CHECK(health.find("\"worker_id\":\"worker-metrics\"") != std::string::npos);

  db.Sql("INSERT INTO jobqueue.jobs (queue, kind) SELECT 'default', 'noop' FROM generate_series(1, 7)");
  REQUIRE(WaitFor([&] { return Count(db, "state = 'succeeded'") == 7; }, 5000));
  // Counters move after the statement returns: wait for them, not the rows.
  std::string metrics;
  CHECK(WaitFor(
      [&] {
        metrics = w.Metrics();
        return MetricValue(metrics, "job_completed_total", "kind=\"noop\"") == 7;
      },
      3000));
  INFO(metrics);
  CHECK(MetricValue(metrics, "job_completed_total", "queue=\"default\"") == 7);
  CHECK(MetricValue(metrics, "worker_lease_acquired_total", "queue=\"default\"") == 7);
  CHECK(MetricValue(metrics, "job_failed_total") <= 0);
  CHECK(metrics.find("# TYPE job_completed_total counter") != std::string::npos);
  CHECK(metrics.find("job_duration_seconds_count") != std::string::npos);
  CHECK(w.DatabaseUp());
  std::string body;
  CHECK(HttpGet(w.port, "/no-such-route", &body) == 404);
}

TEST_CASE("four worker processes racing over 2000 jobs complete each exactly once", "[pg][worker][faults]") {
  constexpr long kJobs = 2000;
  TestDatabase db;
  CountCompletions(db);
  db.Sql("INSERT INTO jobqueue.jobs (queue, kind, payload) "
         "SELECT 'default', 'noop', jsonb_build_object('i', i) FROM generate_series(1, " +
         std::to_string(kJobs) + ") AS i");
  std::vector<std::unique_ptr<WorkerProcess>> workers;
  for (int i = 0; i < 4; ++i) {
    workers.push_back(std::make_unique<WorkerProcess>(db.dsn(), "racer-" + std::to_string(i),
                                                      Env{{"WORKER_POLL_INTERVAL_SECONDS", "0.05"}}));
  }
  REQUIRE(WaitFor([&] { return Count(db, "state = 'succeeded'") == kJobs; }, 20000));
  CheckEverySucceededExactlyOnce(db, kJobs);
  CHECK(db.Scalar<long>("SELECT sum(attempts) FROM jobqueue.jobs") == kJobs);
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE lease_owner NOT LIKE 'racer-%'") == 0);
  INFO(db.Scalar<std::string>("SELECT string_agg(lease_owner || ': ' || n, ', ') FROM "
                              "(SELECT lease_owner, count(*) AS n FROM jobqueue.jobs GROUP BY 1 ORDER BY 1) s"));
  for (auto& w : workers) {
    w->process->Signal(SIGTERM);
  }
  for (auto& w : workers) {
    CHECK(ExitedCleanly(*w->process));
    CHECK_FALSE(w->LogHas("lease lost"));
  }
}

TEST_CASE("a worker with JOB_RETENTION_HOURS=0 deletes each job that succeeds and keeps the one that failed",
          "[pg][worker][faults]") {
  TestDatabase db;
  db.Sql("INSERT INTO jobqueue.jobs (queue, kind, payload) "
         "SELECT 'default', 'noop', jsonb_build_object('i', i) FROM generate_series(1, 50) AS i");
  db.Sql("INSERT INTO jobqueue.jobs (queue, kind, max_attempts) VALUES ('default', 'no.such.kind', 1)");
  WorkerProcess w(db.dsn(), "nohist", Env{{"JOB_RETENTION_HOURS", "0"}});
  REQUIRE(WaitFor([&] { return Count(db, "true") == 1; }, 20000));
  CHECK(db.Scalar<std::string>("SELECT kind || ' ' || state FROM jobqueue.jobs") == "no.such.kind dead");
  CHECK(w.LogHas("\"keep_succeeded\":false"));
  w.process->Signal(SIGTERM);
  CHECK(ExitedCleanly(*w.process));
}

TEST_CASE("what libpng writes to stderr reaches the worker's JSON log as JSON lines", "[pg][worker][faults]") {
  TestDatabase db;
  // A PNG whose structure is sound but whose compressed data is not: only
  // the decoder notices, and libpng says so on stderr.
  std::string ihdr = {0, 0, 0, 64, 0, 0, 0, 64, 8, 2, 0, 0, 0};
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + PngChunk("IHDR", ihdr) +
                          PngChunk("IDAT", "\x78\x9c" + std::string(200, '\xff')) + PngChunk("IEND", "");
  core::JobId id;
  {
    core::pg::Connection conn(db.dsn());
    id = core::JobBlobs(conn).EnqueueWithInput(MakeJob("image.pipeline", {{"ops", "grayscale"}}), "image/png", png).id;
  }
  WorkerProcess w(db.dsn(), "worker-stderr");
  REQUIRE(WaitFor([&] {
    return db.Scalar<std::string>("SELECT state FROM jobqueue.jobs WHERE id = " + std::to_string(id)) == "dead";
  }, 15000));
  CHECK_THAT(db.Scalar<std::string>("SELECT last_error FROM jobqueue.jobs WHERE id = " + std::to_string(id)),
             Catch::Contains("png decoder refused the image"));
  REQUIRE(WaitFor([&] { return !LogLines(*w.process, "stderr").empty(); }, 5000));
  // Info lines leave at once too, not when a buffer fills or at exit.
  CHECK_FALSE(LogLines(*w.process, "worker started").empty());
  CHECK_THAT(LogLines(*w.process, "stderr")[0].value("line", ""), Catch::Contains("libpng"));
  std::istringstream in(w.process->Log());
  std::string line;
  while (std::getline(in, line)) {
    INFO(line);
    CHECK(nlohmann::json::parse(line, nullptr, false).is_object());
  }
}

TEST_CASE("a worker and a reaper started before the migration wait alive and unready, then work",
          "[pg][worker][faults]") {
  TestDatabase db(/*migrated=*/false);
  WorkerProcess w(db.dsn(), "worker-early");
  ReaperProcess reaper(db.dsn());
  REQUIRE(WaitFor([&] { return w.LogHas("waiting for the schema"); }, 10000));
  REQUIRE(WaitFor([&] { return reaper.process->Log().find("waiting for the schema") != std::string::npos; }, 10000));
  std::string body;
  CHECK(HttpGet(w.port, "/health", &body) == 200);
  CHECK(HttpGet(w.port, "/ready", &body) == 503);
  CHECK(body.find("waiting_for_schema") != std::string::npos);
  CHECK(HttpGet(reaper.port, "/health") == 200);
  CHECK(HttpGet(reaper.port, "/ready") == 503);
  // Waiting is quiet: one line, not a failed statement every poll.
  std::this_thread::sleep_for(seconds(2));
  CHECK(LogLines(*w.process, "waiting for the schema; run jobqueue migrate").size() == 1);
  CHECK(w.process->Log().find("database error") == std::string::npos);

  {
    core::pg::Connection conn(db.dsn());
    core::Migrator().Migrate(conn);
  }
  REQUIRE(WaitFor([&] { return HttpGet(w.port, "/ready") == 200; }, 10000));
  REQUIRE(WaitFor([&] { return HttpGet(reaper.port, "/ready") == 200; }, 10000));
  EnqueueSleeps(db, 3, 0.01);
  CHECK(WaitFor([&] { return Count(db, "state = 'succeeded'") == 3; }, 10000));
  w.process->Signal(SIGTERM);
  CHECK(w.process->Wait(seconds(10)) == 0);
}

TEST_CASE("a worker waiting for the schema stops at once on SIGTERM", "[pg][worker][faults]") {
  TestDatabase db(/*migrated=*/false);
  WorkerProcess w(db.dsn(), "worker-never-migrated");
  REQUIRE(WaitFor([&] { return w.LogHas("waiting for the schema"); }, 10000));
  w.process->Signal(SIGTERM);
  CHECK(w.process->Wait(seconds(3)) == 0);
  CHECK(w.LogHas("worker stopped before the schema was there"));
}

}  // namespace jobqueue::testing
