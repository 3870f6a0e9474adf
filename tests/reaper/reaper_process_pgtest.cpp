// jobqueue-reaper as a process: leader election between replicas, takeover
// after SIGKILL, reclaim and prune through the binary, configuration errors.
#include <signal.h>

#include <catch2/catch.hpp>

#include "core/local_postgres.hpp"
#include "support/child_process.hpp"
#include "support/pg_fixture.hpp"

namespace jobqueue::testing {
namespace {

struct Reaper {
  int port;
  std::unique_ptr<ChildProcess> process;

  Reaper(const std::string& dsn, const std::string& id, double interval = 0.1,
         std::map<std::string, std::string> extra = {})
      : port(core::FreeLoopbackPort()) {
    std::map<std::string, std::string> env = {{"DATABASE_URL", dsn},
                                              {"HOSTNAME", id},
                                              {"REAPER_INTERVAL_SECONDS", std::to_string(interval)},
                                              {"REAPER_METRICS_PORT", std::to_string(port)},
                                              {"LOG_LEVEL", "info"}};
    for (auto& [k, v] : extra) env[k] = v;
    process = std::make_unique<ChildProcess>(JOBQUEUE_REAPER_PATH, env);
  }

  // "yes", "no", or "" when /health did not answer.
  std::string Leader() const {
    std::string body;
    if (HttpGet(port, "/health", &body) != 200) return "";
    return body.find("\"leader\":true") != std::string::npos ? "yes" : "no";
  }
};

}  // namespace

TEST_CASE("one reaper replica leads at a time and another takes over when it is killed",
          "[pg][reaper][faults]") {
  TestDatabase db;
  Reaper a(db.dsn(), "reaper-a");
  REQUIRE(WaitFor([&] { return a.Leader() == "yes"; }, 10000));
  Reaper b(db.dsn(), "reaper-b");
  REQUIRE(WaitFor([&] { return b.Leader() == "no"; }, 10000));
  // Several intervals later, still exactly one leader.
  REQUIRE_FALSE(WaitFor([&] { return b.Leader() == "yes"; }, 1000));
  CHECK(a.Leader() == "yes");

  // Only the leader works: an expired lease is reclaimed by A's passes.
  db.Sql("INSERT INTO jobqueue.jobs (kind, state, attempts, lease_owner, lease_token, lease_expires_at) "
         "VALUES ('noop', 'running', 1, 'gone', gen_random_uuid(), now() - interval '1 second')");
  REQUIRE(WaitFor([&] { return db.Scalar<std::string>("SELECT state FROM jobqueue.jobs") == "queued"; }, 5000));
  // The pass logs after its commit: wait for the line rather than race it.
  CHECK(WaitFor([&] { return a.process->Log().find("reaper pass") != std::string::npos; }, 5000));
  CHECK(b.process->Log().find("reaper pass") == std::string::npos);

  a.process->Signal(SIGKILL);
  REQUIRE(a.process->Wait(std::chrono::seconds(5)).has_value());
  // PostgreSQL drops the dead session's lock; B takes over within an interval or two.
  REQUIRE(WaitFor([&] { return b.Leader() == "yes"; }, 5000));
  db.Sql("UPDATE jobqueue.jobs SET state = 'running', attempts = 1, lease_token = gen_random_uuid(), "
         "lease_expires_at = now() - interval '1 second'");
  REQUIRE(WaitFor([&] { return db.Scalar<std::string>("SELECT state FROM jobqueue.jobs") == "queued"; }, 5000));

  b.process->Signal(SIGTERM);
  REQUIRE(b.process->Wait(std::chrono::seconds(5)) == 0);
}

TEST_CASE("a reaper stopped with SIGTERM hands leadership over at once", "[pg][reaper]") {
  TestDatabase db;
  // A long interval: the follower only notices a free lock on its next try,
  // so a prompt takeover proves the leader resigned rather than timed out.
  Reaper a(db.dsn(), "reaper-a", 0.5);
  REQUIRE(WaitFor([&] { return a.Leader() == "yes"; }, 10000));
  Reaper b(db.dsn(), "reaper-b", 0.5);
  REQUIRE(WaitFor([&] { return b.Leader() == "no"; }, 10000));
  a.process->Signal(SIGTERM);
  REQUIRE(a.process->Wait(std::chrono::seconds(5)) == 0);
  CHECK(a.process->Log().find("reaper stopped") != std::string::npos);
  REQUIRE(WaitFor([&] { return b.Leader() == "yes"; }, 3000));
}

TEST_CASE("the reaper prunes finished jobs past the retention and dead-letters exhausted leases",
          "[pg][reaper]") {
  TestDatabase db;
  db.Sql("INSERT INTO jobqueue.jobs (kind, state, attempts, finished_at) "
         "SELECT 'noop', 'succeeded', 1, now() - interval '3 hours' FROM generate_series(1, 2500)");
  db.Sql("INSERT INTO jobqueue.jobs (kind, state, attempts, finished_at) "
         "VALUES ('noop', 'succeeded', 1, now() - interval '30 minutes')");
  db.Sql("INSERT INTO jobqueue.jobs (kind, state, attempts, max_attempts, lease_owner, lease_token, "
         "lease_expires_at) VALUES ('noop', 'running', 3, 3, 'gone', gen_random_uuid(), now() - interval '1 second')");
  // Batches of 1000: the 2,500 old rows take three statements in one pass.
  Reaper reaper(db.dsn(), "reaper", 0.1, {{"JOB_RETENTION_HOURS", "1"}, {"REAPER_BATCH_SIZE", "1000"}});
  REQUIRE(WaitFor([&] { return db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE state = 'succeeded'") == 1; },
                  10000));
  REQUIRE(WaitFor([&] { return db.Scalar<std::string>("SELECT state FROM jobqueue.jobs WHERE attempts = 3") == "dead"; },
                  5000));
  CHECK(db.Scalar<std::string>("SELECT last_error FROM jobqueue.jobs WHERE attempts = 3").find("lease expired") !=
        std::string::npos);

  // The pass records its metrics after its last statement: wait for them.
  std::string metrics;
  CHECK(WaitFor([&] {
    return HttpGet(reaper.port, "/metrics", &metrics) == 200 &&
           metrics.find("reaper_pass_duration_seconds_count") != std::string::npos;
  }, 5000));
  CHECK(metrics.find("job_pruned_total 2500") != std::string::npos);
  CHECK(metrics.find("job_dead_lettered_total 1") != std::string::npos);
  CHECK(metrics.find("reaper_pass_duration_seconds_count") != std::string::npos);
  CHECK(metrics.find("reaper_leader 1") != std::string::npos);
}

TEST_CASE("pruning is bounded by time, not batches: a backlog goes in one interval", "[pg][reaper]") {
  TestDatabase db;
  db.Sql("INSERT INTO jobqueue.jobs (queue, kind, state, attempts, finished_at) "
         "SELECT 'q' || (g % 3), 'noop', 'succeeded', 1, now() - interval '3 hours' "
         "FROM generate_series(1, 3000) AS g");
  // 300 batches of 10: a budget of 100 batches per pass would leave 2,000
  // jobs for the passes 60 s and 120 s later.
  Reaper reaper(db.dsn(), "reaper", 60, {{"JOB_RETENTION_HOURS", "1"}, {"REAPER_BATCH_SIZE", "10"}});
  CHECK(WaitFor([&] { return db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs") == 0; }, 20000));
  // Nothing finished is left, and nothing is counted.
  CHECK(db.Scalar<long>("SELECT coalesce(sum(jobs), 0) FROM jobqueue.finished_counts") == 0);
}

TEST_CASE("the reaper survives the database going away and leads again when it is back",
          "[pg][reaper][faults]") {
  auto* local = TestServer::Get().local();
  if (!local) {
    WARN("needs the throwaway server (JOBQUEUE_TEST_DATABASE_URL is set)");
    return;
  }
  TestDatabase db;
  Reaper reaper(db.dsn(), "reaper", 0.1);
  REQUIRE(WaitFor([&] { return reaper.Leader() == "yes"; }, 10000));
  local->Stop();
  REQUIRE(WaitFor([&] { return reaper.Leader() == "no"; }, 5000));
  local->Start();
  REQUIRE(WaitFor([&] { return reaper.Leader() == "yes"; }, 15000));
  CHECK(reaper.process->Running());
  CHECK(reaper.process->Log().find("lost leadership") != std::string::npos);
}

TEST_CASE("the reaper refuses bad configuration naming the variable", "[reaper]") {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"REAPER_INTERVAL_SECONDS", "0"},
      {"REAPER_INTERVAL_SECONDS", "soon"},
      {"JOB_RETENTION_HOURS", "-1"},
      {"REAPER_METRICS_PORT", "70000"},
      {"LOG_LEVEL", "loud"},
  };
  for (const auto& [name, value] : bad) {
    ChildProcess p(JOBQUEUE_REAPER_PATH, {{name, value}, {"DATABASE_URL", "host=127.0.0.1 port=1"}});
    INFO(name << "=" << value);
    REQUIRE(p.Wait(std::chrono::seconds(10)) == 2);
    CHECK(p.Log().find(name) != std::string::npos);
  }
}

}  // namespace jobqueue::testing
