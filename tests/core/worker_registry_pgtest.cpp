// jobqueue.workers (schema 6): workers reporting themselves, listing by how
// recently they were seen, stopping, pruning.
#include <catch2/catch.hpp>

#include "core/errors.hpp"
#include "core/worker_registry.hpp"
#include "support/pg_fixture.hpp"

namespace jobqueue::testing {

TEST_CASE("workers report themselves, are listed while recent, marked stopped and pruned", "[pg][core]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::WorkerRegistry registry(conn);
  const auto started = db.NowPlus("-10 seconds");
  registry.Seen({"pod-a", {"default", "images"}, 8, 3, started});
  registry.Seen({"pod-b", {"emails"}, 2, 0, started});
  registry.Seen({"pod-a", {"default", "images"}, 8, 5, started});  // again: one row, updated

  auto workers = registry.List(60);
  REQUIRE(workers.size() == 2);
  CHECK(workers[0].id == "pod-a");
  CHECK(workers[0].queues == std::vector<std::string>{"default", "images"});
  CHECK(workers[0].concurrency == 8);
  CHECK(workers[0].running == 5);
  CHECK_FALSE(workers[0].stopped_at);
  CHECK(workers[0].seen_at.back() == 'Z');
  CHECK(workers[0].seen_seconds_ago < 5);

  registry.Stopped("pod-b");
  workers = registry.List(60);
  REQUIRE(workers[1].stopped_at);
  CHECK(workers[1].running == 0);
  // Started again under the same name (a restarted pod): no longer stopped.
  registry.Seen({"pod-b", {"emails"}, 2, 1, db.NowPlus("0 seconds")});
  CHECK_FALSE(registry.List(60)[1].stopped_at);

  // Not seen for an hour: out of the recent list, then pruned.
  db.Sql("UPDATE jobqueue.workers SET seen_at = now() - interval '1 hour' WHERE id = 'pod-a'");
  workers = registry.List(60);
  REQUIRE(workers.size() == 1);
  CHECK(workers[0].id == "pod-b");
  CHECK(registry.Prune(1800) == 1);
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.workers") == 1);

  CHECK_THROWS_AS(registry.Seen({"", {"default"}, 1, 0, started}), jobqueue::InvalidArgument);
  CHECK_THROWS_AS(registry.Seen({"pod-c", {"default"}, 0, 0, started}), jobqueue::InvalidArgument);
}

}  // namespace jobqueue::testing
