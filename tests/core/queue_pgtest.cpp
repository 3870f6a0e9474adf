// Enqueue, claim order, scheduling, cancel/retry and idempotency against a
// real PostgreSQL (one database per test case).
#include <catch2/catch.hpp>

#include <libpq-fe.h>
#include <poll.h>

#include <pqxx/pqxx>

#include "core/errors.hpp"
#include "core/metrics.hpp"
#include "core/queue.hpp"
#include "core/reaper.hpp"
#include "support/pg_fixture.hpp"

using namespace jobqueue;
using jobqueue::core::JobState;
using jobqueue::testing::MakeJob;
using jobqueue::testing::TestDatabase;

namespace {

core::ClaimRequest Request(int limit, const std::string& queue = "default") {
  core::ClaimRequest r;
  r.queues = {queue};
  r.limit = limit;
  r.worker_id = "test-worker";
  r.lease_seconds = 60;
  return r;
}

// A raw libpq session LISTENing on channel jobqueue.
class Listener {
 public:
  explicit Listener(const std::string& dsn) : conn_(PQconnectdb(dsn.c_str())) {
    PQclear(PQexec(conn_, "LISTEN jobqueue"));
  }
  ~Listener() { PQfinish(conn_); }
  // Notifications that arrive within timeout_ms.
  int Await(int timeout_ms) {
    int count = 0;
    pollfd pfd{PQsocket(conn_), POLLIN, 0};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()).count();
      if (poll(&pfd, 1, static_cast<int>(left)) > 0) {
        PQconsumeInput(conn_);
        while (PGnotify* n = PQnotifies(conn_)) {
          ++count;
          PQfreemem(n);
        }
        if (count) return count;
      }
    }
    return count;
  }

 private:
  PGconn* conn_;
};

}  // namespace

TEST_CASE("an enqueued job reads back with its defaults", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  const auto r = queue.Enqueue(MakeJob("thumbnail", {{"w", 64}}));
  REQUIRE(r.created);
  const auto job = queue.Get(r.id);
  REQUIRE(job);
  CHECK(job->kind == "thumbnail");
  CHECK(job->payload == nlohmann::json{{"w", 64}});
  CHECK(job->queue == "default");
  CHECK(job->state == JobState::kQueued);
  CHECK(job->priority == 0);
  CHECK(job->attempts == 0);
  CHECK(job->max_attempts == 25);
  CHECK_FALSE(job->lease_owner);
  CHECK_FALSE(queue.Get(r.id + 1000));
}

TEST_CASE("claim takes jobs by priority, then run_at, then id", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  auto low = MakeJob();
  low.priority = 5;
  auto high = MakeJob();
  high.priority = -3;
  auto older = MakeJob();
  older.run_at = "2000-01-01T00:00:00Z";
  const auto id_low = queue.Enqueue(low).id;
  const auto id_plain = queue.Enqueue(MakeJob()).id;
  const auto id_high = queue.Enqueue(high).id;
  const auto id_older = queue.Enqueue(older).id;
  const auto jobs = queue.Claim(Request(10));
  REQUIRE(jobs.size() == 4);
  CHECK(jobs[0].lease.job_id == id_high);
  CHECK(jobs[1].lease.job_id == id_older);
  CHECK(jobs[2].lease.job_id == id_plain);
  CHECK(jobs[3].lease.job_id == id_low);
  // One at a time gives the same order.
  TestDatabase db2;
  core::pg::Connection conn2(db2.dsn());
  core::Queue queue2(conn2);
  queue2.Enqueue(low);
  queue2.Enqueue(high);
  CHECK(queue2.Claim(Request(1))[0].priority == -3);
  CHECK(queue2.Claim(Request(1))[0].priority == 5);
  CHECK(queue2.Claim(Request(1)).empty());
}

TEST_CASE("claim sets the lease, counts the attempt and respects the limit", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  for (int i = 0; i < 5; ++i) queue.Enqueue(MakeJob());
  const auto jobs = queue.Claim(Request(3));
  REQUIRE(jobs.size() == 3);
  for (const auto& j : jobs) {
    CHECK(j.attempt == 1);
    CHECK(j.lease.token.size() == 36);
    const auto row = queue.Get(j.lease.job_id);
    CHECK(row->state == JobState::kRunning);
    CHECK(row->lease_owner == "test-worker");
    CHECK(row->lease_expires_at);
    CHECK(row->started_at);
  }
  CHECK(db.Scalar<int>("SELECT count(*) FROM jobqueue.jobs WHERE state = 'queued'") == 2);
  CHECK(db.Scalar<bool>("SELECT bool_and(lease_expires_at > now() + interval '50 seconds') "
                        "FROM jobqueue.jobs WHERE state = 'running'"));
}

TEST_CASE("claim only takes jobs from the queues asked for", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  auto a = MakeJob();
  a.queue = "a";
  auto b = MakeJob();
  b.queue = "b";
  auto c = MakeJob();
  c.queue = "c";
  queue.Enqueue(a);
  queue.Enqueue(b);
  queue.Enqueue(c);
  auto request = Request(10);
  request.queues = {"a", "c", "a"};
  const auto jobs = queue.Claim(request);
  REQUIRE(jobs.size() == 2);
  CHECK(jobs[0].queue != "b");
  CHECK(jobs[1].queue != "b");
}

TEST_CASE("a job scheduled in the future is not claimed early", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  auto later = MakeJob();
  later.run_at = db.NowPlus("1 hour");
  const auto id = queue.Enqueue(later).id;
  CHECK(queue.Claim(Request(10)).empty());
  auto at_half_hour = Request(10);
  at_half_hour.now = db.NowPlus("30 minutes");
  CHECK(queue.Claim(at_half_hour).empty());
  auto after = Request(10);
  after.now = db.NowPlus("61 minutes");
  const auto jobs = queue.Claim(after);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].lease.job_id == id);
}

TEST_CASE("cancel and retry follow the allowed transitions", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  const auto id = queue.Enqueue(MakeJob()).id;

  SECTION("queued job is cancelled, then retried, then runs") {
    queue.Cancel(id);
    CHECK(queue.Get(id)->state == JobState::kCancelled);
    CHECK(queue.Get(id)->finished_at);
    CHECK_THROWS_AS(queue.Cancel(id), Conflict);
    queue.Retry(id);
    CHECK(queue.Get(id)->state == JobState::kQueued);
    CHECK_FALSE(queue.Get(id)->finished_at);
    CHECK(queue.Claim(Request(1)).size() == 1);
  }
  SECTION("retry of a queued, running or succeeded job is refused") {
    CHECK_THROWS_AS(queue.Retry(id), Conflict);
    const auto jobs = queue.Claim(Request(1));
    CHECK_THROWS_AS(queue.Retry(id), Conflict);
    REQUIRE(queue.Complete(jobs[0].lease) == core::WriteResult::kDone);
    CHECK_THROWS_AS(queue.Retry(id), Conflict);
    CHECK_THROWS_AS(queue.Cancel(id), Conflict);
    CHECK(queue.Get(id)->state == JobState::kSucceeded);
  }
  SECTION("a running job is cancelled and its worker's completion is refused") {
    const auto jobs = queue.Claim(Request(1));
    queue.Cancel(id);
    CHECK(queue.Complete(jobs[0].lease, {{"x", 1}}) == core::WriteResult::kLeaseLost);
    CHECK(queue.Get(id)->state == JobState::kCancelled);
    CHECK_FALSE(queue.Get(id)->result);
  }
  SECTION("a dead job is retried with a fresh set of attempts") {
    const auto jobs = queue.Claim(Request(1));
    REQUIRE(queue.Fail(jobs[0].lease, "boom", true).new_state == JobState::kDead);
    queue.Retry(id);
    const auto job = queue.Get(id);
    CHECK(job->state == JobState::kQueued);
    CHECK(job->attempts == 0);
    CHECK(job->last_error == "boom");
  }
  SECTION("unknown ids are not found") {
    CHECK_THROWS_AS(queue.Cancel(id + 99), NotFound);
    CHECK_THROWS_AS(queue.Retry(id + 99), NotFound);
  }
}

TEST_CASE("the same idempotency key on the same queue returns the first job", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  auto job = MakeJob("noop", {{"n", 1}});
  job.idempotency_key = "order-42";
  const auto first = queue.Enqueue(job);
  job.payload = {{"n", 2}};
  const auto second = queue.Enqueue(job);
  CHECK(first.created);
  CHECK_FALSE(second.created);
  CHECK(second.id == first.id);
  CHECK(queue.Get(first.id)->payload == nlohmann::json{{"n", 1}});
  job.queue = "other";
  CHECK(queue.Enqueue(job).created);
}

TEST_CASE("enqueue many inserts all jobs in input order, honouring keys", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  auto keyed = MakeJob("k");
  keyed.idempotency_key = "dup";
  const auto existing = queue.Enqueue(keyed).id;
  std::vector<core::NewJob> jobs;
  for (int i = 0; i < 100; ++i) jobs.push_back(MakeJob("bulk", {{"i", i}}));
  jobs.push_back(keyed);        // already in the table
  auto fresh = MakeJob("k");
  fresh.idempotency_key = "new";
  jobs.push_back(fresh);
  jobs.push_back(fresh);        // twice in the same batch
  const auto results = queue.EnqueueMany(jobs);
  REQUIRE(results.size() == jobs.size());
  for (int i = 0; i < 100; ++i) {
    CHECK(results[i].created);
    CHECK(queue.Get(results[i].id)->payload["i"] == i);
  }
  CHECK_FALSE(results[100].created);
  CHECK(results[100].id == existing);
  CHECK(results[101].created);
  CHECK_FALSE(results[102].created);
  CHECK(results[102].id == results[101].id);
  CHECK(db.Scalar<int>("SELECT count(*) FROM jobqueue.jobs") == 102);
}

TEST_CASE("jobqueue.enqueue in SQL is visible and notifies only on commit", "[pg]") {
  TestDatabase db;
  Listener listener(db.dsn());
  pqxx::connection app(db.dsn());
  {
    pqxx::work tx(app);
    tx.exec("SELECT jobqueue.enqueue('noop', '{}', queue => 'sqlq', priority => 2::smallint)");
    CHECK(listener.Await(200) == 0);  // not before commit
    tx.commit();
  }
  CHECK(listener.Await(2000) == 1);
  CHECK(db.Scalar<int>("SELECT count(*) FROM jobqueue.jobs WHERE queue = 'sqlq' AND priority = 2") == 1);
  {
    pqxx::work tx(app);
    tx.exec("SELECT jobqueue.enqueue('noop')");
    tx.abort();
  }
  CHECK(listener.Await(300) == 0);
  CHECK(db.Scalar<int>("SELECT count(*) FROM jobqueue.jobs") == 1);
}

TEST_CASE("prune deletes only finished jobs past the retention, in bounded batches", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  core::Reaper reaper(conn);
  for (int i = 0; i < 5; ++i) queue.Enqueue(MakeJob());
  const auto jobs = queue.Claim(Request(4));
  queue.Complete(jobs[0].lease);
  queue.Complete(jobs[1].lease);
  queue.Fail(jobs[2].lease, "x", true);
  const std::string tomorrow = db.NowPlus("1 day");
  CHECK(reaper.PruneFinished(3600, 100) == 0);  // too young
  CHECK(reaper.PruneFinished(3600, 2, tomorrow) == 2);
  CHECK(reaper.PruneFinished(3600, 2, tomorrow) == 1);
  CHECK(reaper.PruneFinished(3600, 2, tomorrow) == 0);
  CHECK(db.Scalar<int>("SELECT count(*) FROM jobqueue.jobs") == 2);  // one running, one queued
}

TEST_CASE("the operator views answer depth, running and dead questions", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Metrics metrics;
  core::Queue queue(conn, &metrics);
  for (int i = 0; i < 3; ++i) queue.Enqueue(MakeJob());
  const auto jobs = queue.Claim(Request(2));
  queue.Fail(jobs[0].lease, "broken input", true);
  CHECK(db.Scalar<int>("SELECT jobs FROM jobqueue.queue_depth WHERE state = 'queued'") == 1);
  CHECK(db.Scalar<int>("SELECT due FROM jobqueue.queue_depth WHERE state = 'queued'") == 1);
  CHECK(db.Scalar<int>("SELECT count(*) FROM jobqueue.running_jobs WHERE lease_time_left > interval '0'") == 1);
  CHECK(db.Scalar<std::string>("SELECT last_error FROM jobqueue.dead_jobs") == "broken input");
  const auto depth = queue.Depth();
  CHECK(depth.size() == 3);
  const auto exposition = metrics.Serialize();
  CHECK(exposition.find("job_created_total{kind=\"noop\",queue=\"default\"} 3") != std::string::npos);
  CHECK(exposition.find("worker_lease_acquired_total{queue=\"default\"} 2") != std::string::npos);
}
