// Schema 6's reads and bulk changes against a real PostgreSQL: throughput
// buckets that survive the reaper's fold with every count still exact, dead
// jobs grouped by error, bulk retry and cancel that change exactly the
// matching jobs, in batches, up to a limit.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/job_listing.hpp"
#include "core/pg/connection.hpp"
#include "core/queue.hpp"
#include "core/reaper.hpp"
#include "support/pg_fixture.hpp"

using namespace jobqueue;
using jobqueue::testing::MakeJob;
using jobqueue::testing::TestDatabase;

namespace {

// Inserts a finished job of `kind` in `state` with `error`, finished at
// now() + `ago` (an interval, e.g. '-3 minutes'); the insert trigger counts
// it, and the delta is dated like the finish.
void InsertFinished(TestDatabase& db, const std::string& queue, const std::string& kind, const std::string& state,
                    const std::string& error, int n = 1) {
  db.Sql("INSERT INTO jobqueue.jobs (queue, kind, state, attempts, finished_at, last_error) "
         "SELECT '" + queue + "', '" + kind + "', '" + state + "', 1, now(), " +
         (error.empty() ? std::string("NULL") : "'" + error + "'") + " FROM generate_series(1, " +
         std::to_string(n) + ")");
}

long Count(TestDatabase& db, const std::string& where) {
  return db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE " + where);
}

std::int64_t Sum(const std::vector<core::ThroughputBucket>& buckets, std::int64_t core::ThroughputBucket::*field) {
  std::int64_t n = 0;
  for (const auto& b : buckets) n += b.*field;
  return n;
}

}  // namespace

TEST_CASE("throughput: 10-second buckets, kept through the reaper's fold, counts still exact", "[pg][core]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::JobListing listing(conn);

  // An empty history: every bucket of the window, all zero.
  auto buckets = listing.Throughput(60, std::nullopt);
  REQUIRE(buckets.size() == 6);
  CHECK(Sum(buckets, &core::ThroughputBucket::succeeded) == 0);
  CHECK(buckets.back().at.back() == 'Z');

  // Jobs finished now, and deltas dated 5 and 20 minutes ago (as the
  // trigger would have written them then).
  InsertFinished(db, "default", "noop", "succeeded", "", 7);
  InsertFinished(db, "default", "fail", "dead", "boom", 2);
  InsertFinished(db, "other", "noop", "succeeded", "", 3);
  db.Sql("INSERT INTO jobqueue.finished_counts (queue, kind, state, jobs, at) VALUES "
         "('default', 'noop', 'succeeded', 4, now() - interval '5 minutes'), "
         "('default', 'noop', 'succeeded', 1, now() - interval '5 minutes' + interval '2 seconds'), "
         "('default', 'noop', 'succeeded', -2, now() - interval '5 minutes'), "  // a prune: not throughput
         "('default', 'noop', 'succeeded', 6, now() - interval '20 minutes')");
  const std::string exact_before =
      db.Scalar<std::string>("SELECT string_agg(queue || kind || state || s, ',' ORDER BY queue, kind, state) "
                             "FROM (SELECT queue, kind, state, sum(jobs) AS s FROM jobqueue.finished_counts "
                             "GROUP BY 1, 2, 3) AS t");

  const auto check = [&] {
    auto all = listing.Throughput(600, std::nullopt);
    REQUIRE(all.size() == 60);
    // The last bucket holds what finished now; 5 minutes ago, the 5 (not the -2).
    CHECK(all.back().succeeded + all[all.size() - 2].succeeded == 10);
    CHECK(all.back().dead + all[all.size() - 2].dead == 2);
    CHECK(Sum(all, &core::ThroughputBucket::succeeded) == 15);
    CHECK(Sum(listing.Throughput(600, std::string("other")), &core::ThroughputBucket::succeeded) == 3);
    // 20 minutes ago is outside any window.
    CHECK(Sum(listing.Throughput(900, std::nullopt), &core::ThroughputBucket::succeeded) == 15);
    // Each bucket starts on a multiple of 10 s, 10 s apart.
    CHECK(all[1].at.substr(18, 1) == "0");
  };
  check();

  // The reaper's fold: buckets for the 5-minute-old deltas (positive and
  // negative apart), the 20-minute-old one into the total.
  core::Reaper(conn, nullptr).CompactFinishedCounts();
  check();
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.finished_counts WHERE at < now() - interval '15 minutes' "
                        "AND at <> '-infinity'") == 0);
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.finished_counts WHERE at < now() - interval '1 minute' "
                        "AND at > now() - interval '15 minutes' AND jobs < 0") == 1);
  // Folding again changes nothing; the sums per group never change.
  core::Reaper(conn, nullptr).CompactFinishedCounts();
  check();
  const std::string exact_after =
      db.Scalar<std::string>("SELECT string_agg(queue || kind || state || s, ',' ORDER BY queue, kind, state) "
                             "FROM (SELECT queue, kind, state, sum(jobs) AS s FROM jobqueue.finished_counts "
                             "GROUP BY 1, 2, 3) AS t");
  CHECK(exact_after == exact_before);

  CHECK_THROWS_AS(listing.Throughput(5, std::nullopt), jobqueue::InvalidArgument);
  CHECK_THROWS_AS(listing.Throughput(901, std::nullopt), jobqueue::InvalidArgument);
}

TEST_CASE("dead jobs are grouped by the first line of their error, bounded", "[pg][core]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::JobListing listing(conn);
  InsertFinished(db, "default", "fail", "dead", "connection refused", 3);
  InsertFinished(db, "default", "fail", "dead", "timeout' || E'\\n' || 'stack line 1", 2);
  InsertFinished(db, "images", "image.blur", "dead", "timeout' || E'\\n' || 'other stack", 1);
  InsertFinished(db, "default", "noop", "succeeded", "", 5);
  InsertFinished(db, "default", "fail", "cancelled", "connection refused", 4);

  auto found = listing.DeadErrors(std::nullopt, std::nullopt);
  REQUIRE(found.groups.size() == 2);
  CHECK(found.complete);
  CHECK(found.scanned == 6);
  CHECK(found.total == 6);
  // Largest first; a tie goes to the group with the newest job.
  CHECK(found.groups[0].error == "timeout");
  CHECK(found.groups[0].jobs == 3);
  CHECK(found.groups[0].kinds == std::vector<std::string>{"fail", "image.blur"});
  CHECK(found.groups[0].queues == std::vector<std::string>{"default", "images"});
  CHECK(found.groups[1].error == "connection refused");
  CHECK(found.groups[1].jobs == 3);  // the 4 cancelled ones are not dead

  found = listing.DeadErrors(std::string("images"), std::nullopt);
  REQUIRE(found.groups.size() == 1);
  CHECK(found.groups[0].jobs == 1);
  found = listing.DeadErrors(std::nullopt, std::string("fail"));
  CHECK(found.scanned == 5);

  // Bounded: only the newest `scan_limit` are looked at, and it says so.
  found = listing.DeadErrors(std::nullopt, std::nullopt, 4);
  CHECK(found.scanned == 4);
  CHECK(found.total == 6);
  CHECK_FALSE(found.complete);
  CHECK(found.groups[0].error == "timeout");  // the 3 newest are the timeouts

  // A 10,000-character error is grouped by its first 200.
  db.Sql("INSERT INTO jobqueue.jobs (queue, kind, state, attempts, finished_at, last_error) "
         "VALUES ('long', 'k', 'dead', 1, now(), repeat('x', 10000))");
  found = listing.DeadErrors(std::string("long"), std::nullopt);
  REQUIRE(found.groups.size() == 1);
  CHECK(found.groups[0].error == std::string(200, 'x'));
}

TEST_CASE("bulk retry changes exactly the matching dead jobs, in batches, up to the limit", "[pg][core]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  InsertFinished(db, "default", "fail", "dead", "error A", 25);
  InsertFinished(db, "default", "fail", "dead", "error B", 4);
  InsertFinished(db, "default", "other", "dead", "error A", 3);
  InsertFinished(db, "images", "fail", "dead", "error A", 2);
  InsertFinished(db, "default", "fail", "cancelled", "error A", 5);
  InsertFinished(db, "default", "fail", "succeeded", "", 6);

  core::Queue::BulkFilter a;
  a.queue = "default";
  a.kind = "fail";
  a.error = "error A";
  // Batches of 10 up to a limit of 12: 12 change, and more may match.
  auto result = queue.RetryMatching(a, 12, 10);
  CHECK(result.changed == 12);
  CHECK(result.more);
  // The rest: 13 more, then nothing is left, so no more.
  result = queue.RetryMatching(a, 1000, 10);
  CHECK(result.changed == 13);
  CHECK_FALSE(result.more);
  CHECK(queue.RetryMatching(a, 1000, 10).changed == 0);

  CHECK(Count(db, "state = 'queued'") == 25);
  CHECK(Count(db, "state = 'queued' AND (queue <> 'default' OR kind <> 'fail' OR last_error <> 'error A')") == 0);
  CHECK(Count(db, "state = 'queued' AND (attempts <> 0 OR finished_at IS NOT NULL)") == 0);
  CHECK(Count(db, "state = 'dead'") == 4 + 3 + 2);
  CHECK(Count(db, "state = 'cancelled'") == 5);
  CHECK(Count(db, "state = 'succeeded'") == 6);

  // Cancelled ones on request; no filter but the state: all of them.
  core::Queue::BulkFilter cancelled;
  cancelled.state = core::JobState::kCancelled;
  CHECK(queue.RetryMatching(cancelled, 1000).changed == 5);
  // The counts stay exact through all of it.
  CHECK(db.Scalar<long>("SELECT sum(jobs) FROM jobqueue.finished_counts WHERE state = 'dead'") == 9);
  CHECK(db.Scalar<long>("SELECT coalesce(sum(jobs), 0) FROM jobqueue.finished_counts WHERE state = 'cancelled'") == 0);

  core::Queue::BulkFilter wrong;
  wrong.state = core::JobState::kSucceeded;
  CHECK_THROWS_AS(queue.RetryMatching(wrong, 10), jobqueue::InvalidArgument);
  CHECK_THROWS_AS(queue.RetryMatching(a, 0), jobqueue::InvalidArgument);
}

TEST_CASE("bulk cancel changes exactly the matching queued or running jobs", "[pg][core]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  for (int i = 0; i < 7; ++i) queue.Enqueue(MakeJob("a"));
  for (int i = 0; i < 3; ++i) queue.Enqueue(MakeJob("b"));
  const auto running = queue.Claim(jobqueue::testing::ClaimFor(2));
  REQUIRE(running.size() == 2);

  core::Queue::BulkFilter queued_a;
  queued_a.state = core::JobState::kQueued;
  queued_a.kind = "a";
  const long queued_a_before = Count(db, "state = 'queued' AND kind = 'a'");
  auto result = queue.CancelMatching(queued_a, 1000, 2);
  CHECK(result.changed == queued_a_before);
  CHECK_FALSE(result.more);
  CHECK(Count(db, "state = 'cancelled' AND kind <> 'a'") == 0);
  CHECK(Count(db, "state = 'running'") == 2);

  core::Queue::BulkFilter all_running;
  all_running.state = core::JobState::kRunning;
  CHECK(queue.CancelMatching(all_running, 1000).changed == 2);
  // Their workers' leases are gone: completing fails the fence.
  CHECK(queue.Complete(running[0].lease) == core::WriteResult::kLeaseLost);
  CHECK(Count(db, "state = 'cancelled' AND lease_token IS NOT NULL") == 0);

  core::Queue::BulkFilter dead;  // dead is not a state cancel takes
  CHECK_THROWS_AS(queue.CancelMatching(dead, 10), jobqueue::InvalidArgument);
  core::Queue::BulkFilter with_error;
  with_error.state = core::JobState::kQueued;
  with_error.error = "x";
  CHECK_THROWS_AS(queue.CancelMatching(with_error, 10), jobqueue::InvalidArgument);
}
