// Schema 4 (migrations/0004_kept_history.sql) against a real PostgreSQL:
// the finished counts stay exact through every kind of change, also under
// racing workers and compaction; filtered pages of api_list_jobs equal the
// same page read by a plain scan; a populated version-3 database migrates
// with every job intact.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/migrator.hpp"
#include "core/pg/connection.hpp"
#include "core/queue.hpp"
#include "core/sql_catalog.hpp"
#include "core/reaper.hpp"
#include "support/pg_fixture.hpp"

using namespace jobqueue;
using jobqueue::testing::Leases;
using jobqueue::testing::MakeJob;
using jobqueue::testing::TestDatabase;

namespace {

const char* kFinished = "state IN ('succeeded', 'dead', 'cancelled')";

// "queue kind state n" lines from the counts, and from the table itself.
std::string CountedFinished(TestDatabase& db) {
  std::string out;
  for (const auto& row : db.Sql("SELECT queue, kind, state, sum(jobs) FROM jobqueue.finished_counts "
                                "GROUP BY 1, 2, 3 HAVING sum(jobs) <> 0 ORDER BY 1, 2, 3")) {
    out += std::string(row[0].c_str()) + " " + row[1].c_str() + " " + row[2].c_str() + " " +
           row[3].c_str() + "\n";
  }
  return out;
}

std::string ActualFinished(TestDatabase& db) {
  std::string out;
  for (const auto& row : db.Sql(std::string("SELECT queue, kind, state, count(*) FROM jobqueue.jobs WHERE ") +
                                kFinished + " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")) {
    out += std::string(row[0].c_str()) + " " + row[1].c_str() + " " + row[2].c_str() + " " +
           row[3].c_str() + "\n";
  }
  return out;
}

core::ClaimRequest Request(int limit, const std::string& queue = "default") {
  core::ClaimRequest r;
  r.queues = {queue};
  r.limit = limit;
  r.worker_id = "w";
  r.lease_seconds = 60;
  return r;
}

}  // namespace

TEST_CASE("finished counts stay exact through every kind of change", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  for (int i = 0; i < 60; ++i) {
    auto job = MakeJob(i % 3 == 0 ? "a" : "b");
    job.queue = i % 2 ? "q1" : "q2";
    queue.Enqueue(job);
  }
  CHECK(CountedFinished(db).empty());

  // Completed in batches, failed for good, cancelled, retried.
  auto claimed = queue.Claim(Request(20, "q1"));
  queue.CompleteMany(Leases(claimed));
  claimed = queue.Claim(Request(5, "q2"));
  for (const auto& job : claimed) queue.Fail(job.lease, "boom", true);
  const auto dead_id = claimed.front().lease.job_id;
  queue.Cancel(db.Scalar<long long>("SELECT min(id) FROM jobqueue.jobs WHERE state = 'queued'"));
  queue.Retry(dead_id);
  CHECK(CountedFinished(db) == ActualFinished(db));

  // By hand: a finished job moved to another queue, rows inserted finished,
  // one deleted, a state set directly.
  db.Sql("UPDATE jobqueue.jobs SET queue = 'moved' WHERE id = (SELECT min(id) FROM jobqueue.jobs WHERE state = 'succeeded')");
  db.Sql("INSERT INTO jobqueue.jobs (queue, kind, state, finished_at) "
         "SELECT 'q3', 'c', 'dead', now() - interval '2 days' FROM generate_series(1, 7)");
  db.Sql("DELETE FROM jobqueue.jobs WHERE id = (SELECT max(id) FROM jobqueue.jobs WHERE state = 'dead')");
  db.Sql("UPDATE jobqueue.jobs SET state = 'cancelled', finished_at = now() WHERE state = 'queued' AND kind = 'a'");
  CHECK(CountedFinished(db) == ActualFinished(db));

  // Pruned, then folded: the same sums in one row per group. Folding leaves
  // the last minute's deltas alone (they are the throughput figure), and
  // keeps the next 14 minutes' in 10-second buckets (schema 6: throughput
  // over time), so age them past that first.
  core::Reaper reaper(conn);
  CHECK(reaper.PruneFinished(3600, 100) == 6);
  CHECK(CountedFinished(db) == ActualFinished(db));
  const auto rows_before = db.Scalar<long long>("SELECT count(*) FROM jobqueue.finished_counts");
  CHECK(reaper.CompactFinishedCounts() == rows_before);
  db.Sql("UPDATE jobqueue.finished_counts SET at = at - interval '2 minutes'");
  CHECK(reaper.CompactFinishedCounts() <= rows_before);  // into buckets
  CHECK(CountedFinished(db) == ActualFinished(db));
  db.Sql("UPDATE jobqueue.finished_counts SET at = at - interval '15 minutes'");
  const auto groups = db.Scalar<long long>(
      "SELECT count(*) FROM (SELECT queue, kind, state FROM jobqueue.finished_counts "
      "GROUP BY 1, 2, 3 HAVING sum(jobs) <> 0) AS g");
  CHECK(groups < rows_before);
  CHECK(reaper.CompactFinishedCounts() == groups);
  CHECK(db.Scalar<long long>("SELECT count(*) FROM jobqueue.finished_counts WHERE at <> '-infinity'") == 0);
  CHECK(CountedFinished(db) == ActualFinished(db));
  CHECK_FALSE(ActualFinished(db).empty());

  // The operators' view reads the counts for finished states.
  CHECK(db.Scalar<long long>("SELECT jobs FROM jobqueue.queue_depth WHERE queue = 'q1' AND state = 'succeeded'") ==
        db.Scalar<long long>("SELECT count(*) FROM jobqueue.jobs WHERE queue = 'q1' AND state = 'succeeded'"));

  // Bypassed triggers are mended by recounting.
  db.Sql("DELETE FROM jobqueue.finished_counts");
  CHECK(CountedFinished(db).empty());
  CHECK(db.Scalar<long long>("SELECT jobqueue.recount_finished()") ==
        db.Scalar<long long>(std::string("SELECT count(*) FROM jobqueue.jobs WHERE ") + kFinished));
  CHECK(CountedFinished(db) == ActualFinished(db));

  db.Sql("TRUNCATE jobqueue.jobs CASCADE");
  CHECK(CountedFinished(db).empty());
}

TEST_CASE("finished counts stay exact while workers race, cancel and compact", "[pg][concurrency]") {
  TestDatabase db;
  constexpr int kJobs = 3000;
  db.Sql("INSERT INTO jobqueue.jobs (queue, kind) SELECT 'default', 'k' || (g % 3) FROM generate_series(1, " +
         std::to_string(kJobs) + ") AS g");
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      core::pg::Connection conn(db.dsn());
      core::Queue queue(conn);
      for (;;) {
        auto jobs = queue.Claim(Request(7 + w));
        if (jobs.empty()) break;
        if (w == 3) {
          for (const auto& job : jobs) queue.Fail(job.lease, "no", true);
        } else {
          queue.CompleteMany(Leases(jobs));
        }
      }
    });
  }
  std::thread canceller([&] {
    core::pg::Connection conn(db.dsn());
    for (int i = 0; i < 200 && !done; ++i) {
      conn.Guard([&] {
        pqxx::nontransaction tx(conn.Raw());
        // The subquery runs once; the outer `state = 'queued'` is checked
        // again on the row's newest version, after a worker's claim of it.
        return tx.exec("UPDATE jobqueue.jobs SET state = 'cancelled', finished_at = now() "
                       "WHERE id = (SELECT max(id) FROM jobqueue.jobs WHERE state = 'queued') AND state = 'queued'");
      });
    }
  });
  int folds = 0;  // written by the compactor thread only, read after join
  std::thread compactor([&] {
    core::pg::Connection conn(db.dsn());
    core::Reaper reaper(conn);
    while (!done) {
      // Age what is there, so the fold takes it while workers append more.
      conn.Guard([&] {
        pqxx::nontransaction tx(conn.Raw());
        return tx.exec("UPDATE jobqueue.finished_counts SET at = now() - interval '2 minutes' "
                       "WHERE at > '-infinity'");
      });
      reaper.CompactFinishedCounts();
      ++folds;
    }
  });
  for (auto& t : threads) t.join();
  canceller.join();
  done = true;
  compactor.join();
  CHECK(folds > 1);

  CHECK(db.Scalar<long long>(std::string("SELECT count(*) FROM jobqueue.jobs WHERE ") + kFinished) == kJobs);
  CHECK(CountedFinished(db) == ActualFinished(db));
}

TEST_CASE("every filtered page of api_list_jobs equals the page a plain scan reads", "[pg]") {
  TestDatabase db;
  // Every state on two queues and three kinds, interleaved by id.
  db.Sql("INSERT INTO jobqueue.jobs (queue, kind, state, run_at, attempts, lease_owner, lease_token, "
         "lease_expires_at, finished_at) "
         "SELECT 'q' || (g % 2), 'k' || (g % 3), s, now() + (g % 2) * interval '1 hour', 1, 'w', "
         "       CASE WHEN s = 'running' THEN gen_random_uuid() END, "
         "       CASE WHEN s = 'running' THEN now() + interval '1 minute' END, "
         "       CASE WHEN s IN ('succeeded', 'dead', 'cancelled') THEN now() END "
         "FROM generate_series(1, 400) AS g, "
         "     LATERAL (SELECT (ARRAY['queued', 'running', 'succeeded', 'succeeded', 'dead', 'cancelled']"
         "                       ::jobqueue.job_state[])[1 + (g * 7) % 6] AS s) AS st");
  db.Sql("ANALYZE jobqueue.jobs");
  core::pg::Connection conn(db.dsn());
  const auto middle = db.Scalar<long long>("SELECT min(id) + 250 FROM jobqueue.jobs");
  const std::vector<const char*> states = {nullptr, "queued", "running", "succeeded", "dead", "cancelled"};
  const std::vector<const char*> queues = {nullptr, "q0", "q1", "none"};
  const std::vector<const char*> kinds = {nullptr, "k0", "k2", "none"};
  int pages = 0;
  auto check_every_page = [&] {
    for (const auto* state : states) {
      for (const auto* q : queues) {
        for (const auto* kind : kinds) {
          for (const long long before : {0LL, middle}) {
            const char* cursor = nullptr;
            const auto before_text = std::to_string(before);
            if (before) cursor = before_text.c_str();
            std::string got;
            for (const auto& row : conn.Exec("api_list_jobs", state, q, kind, cursor, 9)) {
              got += std::string(row["id"].c_str()) + ",";
            }
            std::string want;
            std::string where = "true";
            if (state) where += std::string(" AND state = '") + state + "'";
            if (q) where += std::string(" AND queue = '") + q + "'";
            if (kind) where += std::string(" AND kind = '") + kind + "'";
            if (before) where += " AND id < " + before_text;
            for (const auto& row : db.Sql("SELECT id FROM jobqueue.jobs WHERE " + where + " ORDER BY id DESC LIMIT 9")) {
              want += std::string(row[0].c_str()) + ",";
            }
            INFO("state " << (state ? state : "any") << ", queue " << (q ? q : "any") << ", kind "
                          << (kind ? kind : "any") << ", before " << before);
            CHECK(got == want);
            ++pages;
          }
        }
      }
    }
  };
  check_every_page();
  // 6,000 newer finished jobs: the live rows now lie outside the window of
  // newest rows the statement looks at first.
  db.Sql("INSERT INTO jobqueue.jobs (queue, kind, state, finished_at) "
         "SELECT 'q' || (g % 2), 'k1', 'succeeded', now() FROM generate_series(1, 6000) AS g");
  check_every_page();
  CHECK(pages == 2 * 192);  // past the five custom plans: generic plans were checked too
}

TEST_CASE("a populated version-3 database migrates to schema 4 with every job intact", "[pg][migrator]") {
  TestDatabase db(false);
  core::pg::Connection conn(db.dsn());
  const auto v3 = jobqueue::testing::MigrationsUpTo(3);
  REQUIRE(v3.size() == 3);
  core::Migrator(v3).Migrate(conn);

  // Jobs in every state, with keys, results, errors and an image.
  db.Sql("INSERT INTO jobqueue.jobs (queue, kind, payload, state, attempts, lease_owner, lease_token, "
         "lease_expires_at, idempotency_key, last_error, result, started_at, finished_at) "
         "SELECT 'q' || (g % 3), 'k' || (g % 4), jsonb_build_object('g', g), s, 1, 'w', "
         "       CASE WHEN s = 'running' THEN gen_random_uuid() END, "
         "       CASE WHEN s = 'running' THEN now() + interval '5 minutes' END, "
         "       CASE WHEN g % 5 = 0 THEN 'key-' || g END, "
         "       CASE WHEN s = 'dead' THEN 'boom' END, "
         "       CASE WHEN s = 'succeeded' THEN jsonb_build_object('ok', g) END, "
         "       CASE WHEN s <> 'queued' THEN now() END, "
         "       CASE WHEN s IN ('succeeded', 'dead', 'cancelled') THEN now() - g * interval '1 minute' END "
         "FROM generate_series(1, 5000) AS g, "
         "     LATERAL (SELECT (ARRAY['queued', 'running', 'succeeded', 'dead', 'cancelled']"
         "                       ::jobqueue.job_state[])[1 + g % 5] AS s) AS st");
  db.Sql("INSERT INTO jobqueue.job_blobs (job_id, role, content_type, byte_size, sha256, bytes) "
         "SELECT min(id), 'input', 'image/png', 3, sha256('abc'), 'abc' FROM jobqueue.jobs");
  const std::string snapshot_sql = "SELECT string_agg(j::text, E'\\n' ORDER BY id) FROM jobqueue.jobs AS j";
  const auto before = db.Scalar<std::string>(snapshot_sql);
  const auto depth_sql = "SELECT string_agg(format('%s %s %s %s', queue, state, jobs, due), ',' "
                         "ORDER BY queue, state) FROM jobqueue.queue_depth";
  const auto depth_before = db.Scalar<std::string>(depth_sql);

  const auto report = core::Migrator().Migrate(conn);
  CHECK(report.from_version == 3);
  CHECK(report.to_version == core::Migrator().LatestVersion());

  CHECK(db.Scalar<std::string>(snapshot_sql) == before);
  CHECK(db.Scalar<std::string>(depth_sql) == depth_before);
  CHECK(CountedFinished(db) == ActualFinished(db));
  CHECK(db.Scalar<long long>("SELECT count(*) FROM jobqueue.job_blobs") == 1);
  const auto options = db.Scalar<std::string>("SELECT reloptions::text FROM pg_class WHERE oid = 'jobqueue.jobs'::regclass");
  CHECK_THAT(options, Catch::Contains("fillfactor=50"));
  CHECK_THAT(options, Catch::Contains("autovacuum_vacuum_cost_delay=0"));

  // Work goes on, counted: a claim and a completion, an idempotency key
  // from before the migration still taken.
  core::Queue queue(conn);
  auto job = MakeJob("k1");
  job.queue = "q0";
  job.idempotency_key = "key-15";
  const auto again = queue.Enqueue(job);
  CHECK_FALSE(again.created);
  const auto claimed = queue.Claim(Request(50, "q1"));
  REQUIRE(!claimed.empty());
  queue.CompleteMany(Leases(claimed));
  CHECK(CountedFinished(db) == ActualFinished(db));
  // The image from before the migration still goes with its job (schema 7
  // deletes bytes by trigger, no longer by foreign key).
  db.Sql("DELETE FROM jobqueue.jobs WHERE id = (SELECT min(id) FROM jobqueue.jobs)");
  CHECK(db.Scalar<long long>("SELECT count(*) FROM jobqueue.job_blobs") == 0);
}

TEST_CASE("deleting on success is fenced by the lease token like keeping", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  queue.set_on_success(core::Queue::OnSuccess::kDelete);
  for (int i = 0; i < 6; ++i) queue.Enqueue(MakeJob("k"));
  auto claimed = queue.Claim(Request(3));
  REQUIRE(claimed.size() == 3);
  // The second job's lease is lost (reclaimed and claimed again elsewhere).
  db.Sql("UPDATE jobqueue.jobs SET lease_token = gen_random_uuid() WHERE id = " +
         std::to_string(claimed[1].lease.job_id));
  const auto written = queue.CompleteMany(Leases(claimed), {nlohmann::json{{"r", 1}}, nullptr, nullptr});
  CHECK(written == std::vector<core::WriteResult>{core::WriteResult::kDone, core::WriteResult::kLeaseLost,
                                                  core::WriteResult::kDone});
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs") == 4);
  CHECK(db.Scalar<std::string>("SELECT state FROM jobqueue.jobs WHERE id = " +
                               std::to_string(claimed[1].lease.job_id)) == "running");

  // Complete-and-claim: the batch goes, the next comes.
  auto next = queue.Claim(Request(1));
  REQUIRE(next.size() == 1);
  const auto both = queue.CompleteAndClaim(Leases(next), {}, Request(5));
  CHECK(both.completed == std::vector<core::WriteResult>{core::WriteResult::kDone});
  CHECK(both.claimed.size() == 2);
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs") == 3);
  // Nothing finished is kept, so nothing is counted.
  CHECK(CountedFinished(db).empty());

  // Keeping is the default, and the same Queue can switch back.
  queue.set_on_success(core::Queue::OnSuccess::kKeep);
  CHECK(queue.CompleteMany(Leases(both.claimed)) ==
        std::vector<core::WriteResult>{core::WriteResult::kDone, core::WriteResult::kDone});
  CHECK(CountedFinished(db) == "default k succeeded 2\n");
}
