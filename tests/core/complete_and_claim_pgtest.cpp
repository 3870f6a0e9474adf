// The two statements the worker runtime adds to the lease protocol:
// complete-and-claim in one round trip, and handing unstarted jobs back.
#include <catch2/catch.hpp>

#include "core/queue.hpp"
#include "core/reaper.hpp"
#include "support/pg_fixture.hpp"

using namespace jobqueue;
using jobqueue::core::WriteResult;
using jobqueue::testing::Leases;
using jobqueue::testing::MakeJob;
using jobqueue::testing::TestDatabase;

namespace {

core::ClaimRequest Request(const std::string& worker, int limit, double lease_seconds = 30) {
  core::ClaimRequest r;
  r.limit = limit;
  r.worker_id = worker;
  r.lease_seconds = lease_seconds;
  return r;
}

}  // namespace

TEST_CASE("complete-and-claim completes with results and claims the next jobs in order", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  for (int i = 0; i < 5; ++i) queue.Enqueue(MakeJob("noop", {{"i", i}}));
  auto urgent = MakeJob("noop", {{"i", "urgent"}});
  urgent.priority = -5;
  const auto urgent_id = queue.Enqueue(urgent).id;

  const auto first = queue.Claim(Request("w1", 2));
  REQUIRE(first.size() == 2);
  CHECK(first[0].lease.job_id == urgent_id);

  const auto out = queue.CompleteAndClaim(Leases(first), {{{"n", 1}}, nullptr}, Request("w1", 3));
  REQUIRE(out.completed.size() == 2);
  CHECK(out.completed[0] == WriteResult::kDone);
  CHECK(out.completed[1] == WriteResult::kDone);
  REQUIRE(out.claimed.size() == 3);
  for (std::size_t i = 1; i < out.claimed.size(); ++i) {
    CHECK(out.claimed[i - 1].lease.job_id < out.claimed[i].lease.job_id);  // same priority: FIFO
  }
  for (const auto& job : out.claimed) {
    CHECK(job.attempt == 1);
    CHECK(job.lease.job_id != first[0].lease.job_id);
    CHECK(job.lease.job_id != first[1].lease.job_id);
  }
  CHECK(db.Scalar<std::string>("SELECT result::text FROM jobqueue.jobs WHERE id = " +
                               std::to_string(first[0].lease.job_id)) == R"({"n": 1})");
  CHECK(db.Scalar<bool>("SELECT result IS NULL FROM jobqueue.jobs WHERE id = " +
                        std::to_string(first[1].lease.job_id)));
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE state = 'running' AND lease_owner = 'w1'") == 3);
}

TEST_CASE("complete-and-claim with limit 0 only completes, and with nothing done only claims", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  for (int i = 0; i < 3; ++i) queue.Enqueue(MakeJob());
  const auto claimed = queue.CompleteAndClaim({}, {}, Request("w1", 2)).claimed;
  REQUIRE(claimed.size() == 2);
  const auto out = queue.CompleteAndClaim(Leases(claimed), {}, Request("w1", 0));
  CHECK(out.claimed.empty());
  CHECK(out.completed == std::vector<WriteResult>{WriteResult::kDone, WriteResult::kDone});
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE state = 'queued'") == 1);
  // Empty queue, nothing to complete: an empty answer, not an error.
  auto last = queue.CompleteAndClaim({}, {}, Request("w1", 5));
  REQUIRE(last.claimed.size() == 1);
  CHECK(queue.CompleteAndClaim(Leases(last.claimed), {}, Request("w1", 5)).claimed.empty());
}

TEST_CASE("complete-and-claim refuses a lost lease and still claims", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  core::Reaper reaper(conn);
  for (int i = 0; i < 3; ++i) queue.Enqueue(MakeJob());
  const auto mine = queue.Claim(Request("w1", 2, 1));
  REQUIRE(mine.size() == 2);
  // The first lease expires and is reclaimed and re-claimed by another worker.
  db.Sql("UPDATE jobqueue.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = " +
         std::to_string(mine[0].lease.job_id));
  REQUIRE(reaper.ReclaimExpired(10).total() == 1);
  db.Sql("UPDATE jobqueue.jobs SET run_at = now() - interval '1 hour' WHERE id = " +
         std::to_string(mine[0].lease.job_id));  // due before the third job
  const auto other = queue.Claim(Request("w2", 1));
  REQUIRE(other.size() == 1);
  REQUIRE(other[0].lease.job_id == mine[0].lease.job_id);

  const auto before = db.Scalar<std::string>("SELECT row_to_json(j)::text FROM jobqueue.jobs j WHERE id = " +
                                             std::to_string(mine[0].lease.job_id));
  const auto out = queue.CompleteAndClaim(Leases(mine), {{{"late", true}}, {{"ok", true}}}, Request("w1", 5));
  CHECK(out.completed == std::vector<WriteResult>{WriteResult::kLeaseLost, WriteResult::kDone});
  CHECK(out.claimed.size() == 1);  // the third job
  CHECK(db.Scalar<std::string>("SELECT row_to_json(j)::text FROM jobqueue.jobs j WHERE id = " +
                               std::to_string(mine[0].lease.job_id)) == before);
}

TEST_CASE("releasing unstarted jobs queues them at once and takes the attempt back", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  for (int i = 0; i < 3; ++i) queue.Enqueue(MakeJob());
  const auto jobs = queue.Claim(Request("w1", 3));
  REQUIRE(jobs.size() == 3);
  // One of them was reclaimed meanwhile: its stale token releases nothing.
  db.Sql("UPDATE jobqueue.jobs SET lease_token = gen_random_uuid() WHERE id = " +
         std::to_string(jobs[2].lease.job_id));
  const auto released = queue.Release(Leases(jobs));
  CHECK(released.size() == 2);
  for (int i = 0; i < 2; ++i) {
    const auto id = std::to_string(jobs[static_cast<std::size_t>(i)].lease.job_id);
    CHECK(db.Scalar<std::string>("SELECT state FROM jobqueue.jobs WHERE id = " + id) == "queued");
    CHECK(db.Scalar<int>("SELECT attempts FROM jobqueue.jobs WHERE id = " + id) == 0);
    CHECK(db.Scalar<bool>("SELECT lease_token IS NULL AND lease_expires_at IS NULL AND started_at IS NULL "
                          "AND run_at <= now() FROM jobqueue.jobs WHERE id = " + id));
  }
  CHECK(db.Scalar<std::string>("SELECT state FROM jobqueue.jobs WHERE id = " +
                               std::to_string(jobs[2].lease.job_id)) == "running");
  // Released jobs are claimable again straight away.
  CHECK(queue.Claim(Request("w2", 5)).size() == 2);
  CHECK(queue.Release({}).empty());
}
