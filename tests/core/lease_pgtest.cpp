// The lease protocol: heartbeats, expiry and reclaim, fencing of late
// writes, retry backoff and dead-lettering.
#include <catch2/catch.hpp>

#include "core/errors.hpp"
#include "core/queue.hpp"
#include "core/reaper.hpp"
#include "support/pg_fixture.hpp"

using namespace jobqueue;
using jobqueue::core::JobState;
using jobqueue::core::WriteResult;
using jobqueue::testing::MakeJob;
using jobqueue::testing::TestDatabase;

namespace {

core::ClaimRequest Request(const std::string& worker, double lease_seconds = 30) {
  core::ClaimRequest r;
  r.limit = 10;
  r.worker_id = worker;
  r.lease_seconds = lease_seconds;
  return r;
}

// Everything a late write could change, as one comparable string.
std::string RowImage(TestDatabase& db, core::JobId id) {
  return db.Scalar<std::string>(
      "SELECT row_to_json(j)::text FROM jobqueue.jobs j WHERE id = " + std::to_string(id));
}

}  // namespace

TEST_CASE("a heartbeat extends the lease of the current holder only", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  queue.Enqueue(MakeJob());
  queue.Enqueue(MakeJob());
  const auto jobs = queue.Claim(Request("w1", 5));
  REQUIRE(jobs.size() == 2);
  auto forged = jobs[1].lease;
  forged.token = "00000000-0000-0000-0000-000000000000";
  const auto lost = queue.Heartbeat({jobs[0].lease, forged}, 600);
  REQUIRE(lost.size() == 1);
  CHECK(lost[0].job_id == forged.job_id);
  CHECK(db.Scalar<bool>("SELECT lease_expires_at > now() + interval '500 seconds' FROM jobqueue.jobs WHERE id = " +
                        std::to_string(jobs[0].lease.job_id)));
  CHECK(db.Scalar<bool>("SELECT lease_expires_at < now() + interval '10 seconds' FROM jobqueue.jobs WHERE id = " +
                        std::to_string(jobs[1].lease.job_id)));
}

TEST_CASE("an expired lease is reclaimed and the late writes of its worker are refused", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  core::Reaper reaper(conn);
  const auto id = queue.Enqueue(MakeJob()).id;
  const auto first = queue.Claim(Request("slow-worker", 30));
  REQUIRE(first.size() == 1);

  // Not expired yet: nothing to reclaim.
  CHECK(reaper.ReclaimExpired(100).total() == 0);
  // An hour later the lease has expired.
  const auto later = db.NowPlus("1 hour");
  const auto reclaimed = reaper.ReclaimExpired(100, later);
  CHECK(reclaimed.requeued == 1);
  auto job = queue.Get(id);
  CHECK(job->state == JobState::kQueued);
  CHECK(job->last_error->find("lease expired") != std::string::npos);
  CHECK(job->last_error->find("slow-worker") != std::string::npos);

  // Another worker takes it (after the backoff) and holds the new lease.
  auto request = Request("fast-worker");
  request.now = db.NowPlus("2 hours");
  const auto second = queue.Claim(request);
  REQUIRE(second.size() == 1);
  CHECK(second[0].attempt == 2);
  CHECK(second[0].lease.token != first[0].lease.token);

  const auto before = RowImage(db, id);
  CHECK(queue.Complete(first[0].lease, {{"stale", true}}) == WriteResult::kLeaseLost);
  CHECK(queue.Heartbeat({first[0].lease}, 600).size() == 1);
  CHECK(queue.Fail(first[0].lease, "late failure", false).write == WriteResult::kLeaseLost);
  CHECK(RowImage(db, id) == before);

  CHECK(queue.Complete(second[0].lease, {{"ok", true}}) == WriteResult::kDone);
  job = queue.Get(id);
  CHECK(job->state == JobState::kSucceeded);
  CHECK(job->lease_owner == "fast-worker");
  CHECK(job->result == nlohmann::json{{"ok", true}});
  // A second completion of the same attempt is refused as well.
  CHECK(queue.Complete(second[0].lease) == WriteResult::kLeaseLost);
}

TEST_CASE("reclaim works in bounded batches", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  core::Reaper reaper(conn);
  for (int i = 0; i < 7; ++i) queue.Enqueue(MakeJob());
  REQUIRE(queue.Claim(Request("w", 1)).size() == 7);
  const auto later = db.NowPlus("1 hour");
  CHECK(reaper.ReclaimExpired(3, later).total() == 3);
  CHECK(reaper.ReclaimExpired(3, later).total() == 3);
  CHECK(reaper.ReclaimExpired(3, later).total() == 1);
  CHECK(reaper.ReclaimExpired(3, later).total() == 0);
}

TEST_CASE("retry backoff grows with each failed attempt", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  const auto id = queue.Enqueue(MakeJob()).id;
  double previous = 0;
  for (int attempt = 1; attempt <= 6; ++attempt) {
    auto request = Request("w");
    request.now = db.NowPlus("3 days");  // past any backoff so far
    const auto jobs = queue.Claim(request);
    REQUIRE(jobs.size() == 1);
    REQUIRE(jobs[0].attempt == attempt);
    const auto result = queue.Fail(jobs[0].lease, "try again", false);
    REQUIRE(result.new_state == JobState::kQueued);
    const double delay = db.Scalar<double>(
        "SELECT extract(epoch FROM run_at - now()) FROM jobqueue.jobs WHERE id = " + std::to_string(id));
    // 2^attempt seconds +-25%: strictly more than the previous one.
    CHECK(delay >= 0.75 * (1 << attempt) - 0.5);
    CHECK(delay <= 1.25 * (1 << attempt) + 0.5);
    CHECK(delay > previous);
    previous = delay;
    CHECK(queue.Claim(Request("w")).empty());  // not due yet
  }
}

TEST_CASE("a job is dead after max_attempts failures or one permanent error", "[pg]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  core::Reaper reaper(conn);

  SECTION("retryable failures until attempts are used up") {
    auto job = MakeJob();
    job.max_attempts = 3;
    const auto id = queue.Enqueue(job).id;
    for (int attempt = 1; attempt <= 3; ++attempt) {
      auto request = Request("w");
      request.now = db.NowPlus("1 day");
      const auto jobs = queue.Claim(request);
      REQUIRE(jobs.size() == 1);
      const auto result = queue.Fail(jobs[0].lease, "attempt " + std::to_string(attempt), false);
      CHECK(result.new_state == (attempt < 3 ? JobState::kQueued : JobState::kDead));
    }
    const auto row = queue.Get(id);
    CHECK(row->state == JobState::kDead);
    CHECK(row->attempts == 3);
    CHECK(row->last_error == "attempt 3");
    CHECK(row->finished_at);
  }
  SECTION("a permanent error on the first attempt") {
    const auto id = queue.Enqueue(MakeJob()).id;
    const auto jobs = queue.Claim(Request("w"));
    CHECK(queue.Fail(jobs[0].lease, "corrupt image", true).new_state == JobState::kDead);
    CHECK(queue.Get(id)->attempts == 1);
  }
  SECTION("an expired lease on the last attempt") {
    auto job = MakeJob();
    job.max_attempts = 1;
    const auto id = queue.Enqueue(job).id;
    REQUIRE(queue.Claim(Request("w", 1)).size() == 1);
    const auto result = reaper.ReclaimExpired(10, db.NowPlus("1 hour"));
    CHECK(result.dead == 1);
    CHECK(queue.Get(id)->state == JobState::kDead);
  }
}
