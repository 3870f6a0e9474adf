// Image bytes in jobqueue.job_blobs: stored with their job in one statement,
// fenced by the lease on output, removed with their job, stored uncompressed
// and out of line.
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <set>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "core/errors.hpp"
#include "core/job_blobs.hpp"
#include "core/migrator.hpp"
#include "core/queue.hpp"
#include "core/reaper.hpp"
#include "support/pg_fixture.hpp"

using namespace jobqueue;
using jobqueue::core::BlobRole;
using jobqueue::core::WriteResult;
using jobqueue::testing::MakeJob;
using jobqueue::testing::TestDatabase;

namespace {

// Bytes that compress very well: if TOAST compressed them, it would show.
std::string Compressible(std::size_t n) { return std::string(n, 'a'); }

core::ClaimRequest Request(const std::string& worker, double lease_seconds = 30) {
  core::ClaimRequest r;
  r.limit = 10;
  r.worker_id = worker;
  r.lease_seconds = lease_seconds;
  return r;
}

long long BlobCount(TestDatabase& db, const std::string& where = "true") {
  return db.Scalar<long long>("SELECT count(*) FROM jobqueue.job_blobs WHERE " + where);
}

std::string InsertBlobSql(long long job_id) {
  return "INSERT INTO jobqueue.job_blobs (job_id, role, content_type, byte_size, sha256, bytes) VALUES (" +
         std::to_string(job_id) + ", 'input', 'image/png', 3, sha256('abc'), 'abc')";
}

long long NewJob(TestDatabase& db) {
  return db.Scalar<long long>("INSERT INTO jobqueue.jobs (kind) VALUES ('image.pipeline') RETURNING id");
}

// Whether session `backend_pid` comes to wait on a lock within 5 s: polled,
// never a fixed sleep that a slow machine could outrun.
bool WaitsOnLock(TestDatabase& db, int backend_pid) {
  return jobqueue::testing::WaitFor(
      [&] {
        return db.Scalar<bool>("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = " +
                               std::to_string(backend_pid) + " AND wait_event_type = 'Lock')");
      },
      5000);
}

}  // namespace

TEST_CASE("an upload stores its job and its bytes together, byte for byte", "[pg][blobs]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::JobBlobs blobs(conn);
  std::string bytes;
  for (int i = 0; i < 70000; ++i) bytes += static_cast<char>(i * 7919 % 256);  // every byte value, NULs too
  const auto result = blobs.EnqueueWithInput(MakeJob("image.pipeline"), "image/png", bytes);
  CHECK(result.created);
  const auto blob = blobs.Get(result.id, BlobRole::kInput, true);
  REQUIRE(blob);
  REQUIRE(blob->present);
  CHECK(blob->job_state == "queued");
  CHECK(blob->content_type == "image/png");
  CHECK(blob->byte_size == static_cast<std::int64_t>(bytes.size()));
  CHECK(blob->bytes == bytes);
  CHECK(blob->sha256.size() == 64);
  const auto without = blobs.Get(result.id, BlobRole::kInput, false);
  REQUIRE(without);
  CHECK(without->bytes.empty());
  CHECK(without->sha256 == blob->sha256);
  CHECK_FALSE(blobs.Get(result.id, BlobRole::kOutput, true)->present);
  CHECK_FALSE(blobs.Get(result.id + 1000, BlobRole::kInput, true));
}

TEST_CASE("bytes read over a session the server dropped fail as transient; the next read reconnects",
          "[pg][blobs]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::JobBlobs blobs(conn);
  const std::string bytes(300000, '\x01');
  const auto id = blobs.EnqueueWithInput(MakeJob("image.pipeline"), "image/png", bytes).id;
  REQUIRE(blobs.Get(id, BlobRole::kInput, true)->bytes == bytes);
  const auto pid = conn.Raw().backendpid();
  db.Sql("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  CHECK_THROWS_AS(conn.ExecBinaryField("get_job_blob_bytes", {std::to_string(id), "input"}), Transient);
  CHECK(blobs.Get(id, BlobRole::kInput, true)->bytes == bytes);
  // A statement the server refuses is an error naming the cause, not a lost session.
  CHECK_THROWS_AS(conn.ExecBinaryField("get_job_blob_bytes", {"not a number", "input"}), InvalidArgument);
  CHECK(conn.ExecBinaryField("get_job_blob_bytes", {std::to_string(id), "output"}) == std::nullopt);
}

TEST_CASE("an upload with an idempotency key already used stores nothing more", "[pg][blobs]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::JobBlobs blobs(conn);
  auto job = MakeJob("image.pipeline");
  job.idempotency_key = "photo-1";
  const auto first = blobs.EnqueueWithInput(job, "image/jpeg", "first bytes");
  const auto second = blobs.EnqueueWithInput(job, "image/jpeg", "second bytes");
  CHECK(first.created);
  CHECK_FALSE(second.created);
  CHECK(second.id == first.id);
  CHECK(BlobCount(db) == 1);
  CHECK(blobs.Get(first.id, BlobRole::kInput, true)->bytes == "first bytes");
}

TEST_CASE("an invalid upload writes neither the job nor the bytes", "[pg][blobs]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::JobBlobs blobs(conn);
  auto job = MakeJob("image.pipeline");
  job.queue = "";
  CHECK_THROWS_AS(blobs.EnqueueWithInput(job, "image/png", "x"), InvalidArgument);
  CHECK_THROWS_AS(blobs.EnqueueWithInput(MakeJob("image.pipeline"), "image/png", ""), InvalidArgument);
  CHECK(db.Scalar<long long>("SELECT count(*) FROM jobqueue.jobs") == 0);
  CHECK(BlobCount(db) == 0);
}

TEST_CASE("an output is stored only by the attempt that still holds the lease", "[pg][blobs]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  core::Reaper reaper(conn);
  core::JobBlobs blobs(conn);
  const auto id = blobs.EnqueueWithInput(MakeJob("image.pipeline"), "image/png", "input").id;
  const auto first = queue.Claim(Request("paused-worker", 5));
  REQUIRE(first.size() == 1);
  // The lease runs out while the first worker is still processing.
  CHECK(reaper.ReclaimExpired(10, db.NowPlus("1 minute")).total() == 1);
  db.Sql("UPDATE jobqueue.jobs SET run_at = now() WHERE id = " + std::to_string(id));
  const auto second = queue.Claim(Request("healthy-worker", 30));
  REQUIRE(second.size() == 1);

  // The paused worker wakes and tries to hand in its output: refused, and
  // nothing of it is stored.
  CHECK(blobs.CompleteWithOutput(first[0].lease, {{"by", "paused"}}, "image/png", "stale output") ==
        WriteResult::kLeaseLost);
  CHECK(BlobCount(db, "role = 'output'") == 0);
  CHECK(db.Scalar<std::string>("SELECT state FROM jobqueue.jobs WHERE id = " + std::to_string(id)) == "running");

  CHECK(blobs.CompleteWithOutput(second[0].lease, {{"by", "healthy"}}, "image/webp", "fresh output") ==
        WriteResult::kDone);
  const auto out = blobs.Get(id, BlobRole::kOutput, true);
  REQUIRE(out->present);
  CHECK(out->bytes == "fresh output");
  CHECK(out->content_type == "image/webp");
  CHECK(out->job_state == "succeeded");
  CHECK(out->lease_owner == std::optional<std::string>("healthy-worker"));
  CHECK(db.Scalar<std::string>("SELECT result->>'by' FROM jobqueue.jobs WHERE id = " + std::to_string(id)) ==
        "healthy");
  // A second hand-in of the same attempt is refused too.
  CHECK(blobs.CompleteWithOutput(second[0].lease, {{"by", "again"}}, "image/png", "again") ==
        WriteResult::kLeaseLost);
  CHECK(blobs.Get(id, BlobRole::kOutput, true)->bytes == "fresh output");
}

TEST_CASE("an output for a cancelled job is refused", "[pg][blobs]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  core::JobBlobs blobs(conn);
  const auto id = blobs.EnqueueWithInput(MakeJob("image.pipeline"), "image/png", "input").id;
  const auto claimed = queue.Claim(Request("w"));
  REQUIRE(claimed.size() == 1);
  queue.Cancel(id);
  CHECK(blobs.CompleteWithOutput(claimed[0].lease, nullptr, "image/png", "late") == WriteResult::kLeaseLost);
  CHECK(BlobCount(db, "role = 'output'") == 0);
}

TEST_CASE("pruning or deleting a job removes its bytes", "[pg][blobs]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::Queue queue(conn);
  core::Reaper reaper(conn);
  core::JobBlobs blobs(conn);
  const auto pruned = blobs.EnqueueWithInput(MakeJob("image.pipeline"), "image/png", Compressible(100000)).id;
  const auto deleted = blobs.EnqueueWithInput(MakeJob("image.pipeline"), "image/png", "small").id;
  const auto kept = blobs.EnqueueWithInput(MakeJob("image.pipeline"), "image/png", "kept").id;
  auto claimed = queue.Claim(Request("w"));
  REQUIRE(claimed.size() == 3);
  for (const auto& job : claimed) {
    if (job.lease.job_id == pruned) {
      CHECK(blobs.CompleteWithOutput(job.lease, nullptr, "image/png", Compressible(50000)) == WriteResult::kDone);
    }
  }
  CHECK(BlobCount(db) == 4);
  CHECK(reaper.PruneFinished(3600, 100, db.NowPlus("2 hours")) == 1);
  db.Sql("DELETE FROM jobqueue.jobs WHERE id = " + std::to_string(deleted));
  CHECK(BlobCount(db) == 1);
  CHECK(BlobCount(db, "job_id = " + std::to_string(kept)) == 1);
  // Nothing is left in the TOAST table either: no orphan bytes.
  db.Sql("VACUUM jobqueue.job_blobs");
  CHECK(db.Scalar<long long>("SELECT pg_relation_size(reltoastrelid) FROM pg_class "
                             "WHERE oid = 'jobqueue.job_blobs'::regclass") >= 0);
  CHECK(db.Scalar<long long>("SELECT count(*) FROM jobqueue.job_images") == 1);
}

TEST_CASE("image bytes are stored out of line and uncompressed", "[pg][blobs]") {
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  core::JobBlobs blobs(conn);
  const auto id = blobs.EnqueueWithInput(MakeJob("image.pipeline"), "image/png", Compressible(200000)).id;
  CHECK(db.Scalar<std::string>("SELECT attstorage::text FROM pg_attribute WHERE attrelid = "
                               "'jobqueue.job_blobs'::regclass AND attname = 'bytes'") == "e");
  // pglz would shrink 200,000 'a's to a few kB; stored as is, the value
  // takes its full size in the TOAST table.
  CHECK(db.Scalar<long long>("SELECT pg_column_size(bytes) FROM jobqueue.job_blobs WHERE job_id = " +
                             std::to_string(id)) >= 200000);
  CHECK(db.Scalar<bool>("SELECT pg_column_compression(bytes) IS NULL FROM jobqueue.job_blobs"));
  CHECK(db.Scalar<long long>("SELECT pg_relation_size(reltoastrelid) FROM pg_class "
                             "WHERE oid = 'jobqueue.job_blobs'::regclass") >= 200000);
  // The operator views show sizes by SQL.
  CHECK(db.Scalar<long long>("SELECT byte_size FROM jobqueue.job_images WHERE job_id = " + std::to_string(id)) ==
        200000);
  CHECK(db.Scalar<long long>("SELECT bytes FROM jobqueue.image_storage WHERE role = 'input'") == 200000);
}

TEST_CASE("bytes for a job that does not exist are refused, naming the job", "[pg][blobs]") {
  TestDatabase db;
  const auto id = NewJob(db);
  db.Sql("DELETE FROM jobqueue.jobs WHERE id = " + std::to_string(id));
  try {
    db.Sql(InsertBlobSql(id));
    FAIL("the insert was accepted");
  } catch (const pqxx::sql_error& e) {
    CHECK(e.sqlstate() == "23503");  // foreign_key_violation, as the key it replaced answered
    CHECK_THAT(e.what(), Catch::Contains("job " + std::to_string(id) + " does not exist"));
  }
  CHECK(BlobCount(db) == 0);
  // Moving bytes to another job is checked too.
  const auto other = NewJob(db);
  db.Sql(InsertBlobSql(other));
  CHECK_THROWS_AS(db.Sql("UPDATE jobqueue.job_blobs SET job_id = " + std::to_string(id)), pqxx::sql_error);
  CHECK(BlobCount(db, "job_id = " + std::to_string(other)) == 1);
}

TEST_CASE("one statement deleting many jobs deletes all their bytes and no others, a statement at a time",
          "[pg][blobs]") {
  TestDatabase db;
  db.Sql("INSERT INTO jobqueue.jobs (kind) SELECT 'image.pipeline' FROM generate_series(1, 1000)");
  db.Sql("INSERT INTO jobqueue.job_blobs (job_id, role, content_type, byte_size, sha256, bytes) "
         "SELECT id, r, 'image/png', 3, sha256('abc'), 'abc' FROM jobqueue.jobs, "
         "unnest(ARRAY['input', 'output']) AS r WHERE id % 2 = 0");
  REQUIRE(BlobCount(db) == 1000);
  // The deleted jobs are the odd ids below 600 and the even ids below 400.
  const auto plan = db.Sql("EXPLAIN (ANALYZE, FORMAT JSON) DELETE FROM jobqueue.jobs WHERE id % 2 = 1 AND id < "
                           "(SELECT min(id) + 600 FROM jobqueue.jobs) OR id % 2 = 0 AND id < "
                           "(SELECT min(id) + 400 FROM jobqueue.jobs)");
  // No trigger ran once per deleted row (the foreign key's cascade did):
  // the one that deletes bytes ran once for the statement.
  const auto triggers = nlohmann::json::parse(plan[0][0].as<std::string>())[0].at("Triggers");
  std::set<std::string> names;
  for (const auto& t : triggers) {
    names.insert(t.at("Trigger Name").get<std::string>());
    CHECK(t.at("Calls").get<int>() == 1);
  }
  CHECK(names.count("jobs_delete_blobs") == 1);
  CHECK(BlobCount(db) == 600);
  CHECK(db.Scalar<long long>("SELECT count(*) FROM jobqueue.job_blobs AS b "
                             "WHERE NOT EXISTS (SELECT 1 FROM jobqueue.jobs AS j WHERE j.id = b.job_id)") == 0);
  db.Sql("TRUNCATE jobqueue.jobs");
  CHECK(BlobCount(db) == 0);
}

TEST_CASE("bytes being stored and their job being deleted never leave orphan bytes, in either order",
          "[pg][blobs][concurrency]") {
  TestDatabase db;
  pqxx::connection deleter_conn(db.dsn());
  pqxx::connection writer_conn(db.dsn());

  SECTION("the delete first: the write waits for it, then is refused") {
    const auto id = NewJob(db);
    pqxx::work deleter(deleter_conn);
    deleter.exec0("DELETE FROM jobqueue.jobs WHERE id = " + std::to_string(id));
    auto writer = std::async(std::launch::async, [&] {
      pqxx::work w(writer_conn);
      w.exec0(InsertBlobSql(id));
      w.commit();
    });
    REQUIRE(WaitsOnLock(db, writer_conn.backendpid()));
    deleter.commit();
    try {
      writer.get();
      FAIL("bytes were stored for a deleted job");
    } catch (const pqxx::sql_error& e) {
      CHECK(e.sqlstate() == "23503");
    }
  }
  SECTION("the write first: the delete waits for it, then deletes the bytes too") {
    const auto id = NewJob(db);
    pqxx::work writer(writer_conn);
    writer.exec0(InsertBlobSql(id));
    auto deleter = std::async(std::launch::async, [&] {
      pqxx::work d(deleter_conn);
      const auto r = d.exec("DELETE FROM jobqueue.jobs WHERE id = " + std::to_string(id));
      d.commit();
      return r.affected_rows();
    });
    REQUIRE(WaitsOnLock(db, deleter_conn.backendpid()));
    writer.commit();
    CHECK(deleter.get() == 1);
  }
  CHECK(BlobCount(db) == 0);
  CHECK(db.Scalar<long long>("SELECT count(*) FROM jobqueue.jobs") == 0);
}

TEST_CASE("schema 7 waits at most 5 s for a transaction left open on the jobs, changes nothing, and runs again",
          "[pg][migrator][blobs]") {
  TestDatabase db(false);
  core::pg::Connection conn(db.dsn());
  const auto v6 = jobqueue::testing::MigrationsUpTo(6);
  REQUIRE(v6.size() == 6);
  core::Migrator(v6).Migrate(conn);
  const auto id = NewJob(db);
  db.Sql(InsertBlobSql(id));

  pqxx::connection operator_conn(db.dsn());
  {
    pqxx::work open_report(operator_conn);  // an operator's session, left open mid-report
    open_report.exec("SELECT count(*) FROM jobqueue.jobs");
    const auto started = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH(core::Migrator().Migrate(conn), Catch::Contains("lock timeout"));
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(30));
    CHECK(core::Migrator().CurrentVersion(conn) == 6);
    CHECK(db.Scalar<long long>("SELECT count(*) FROM pg_constraint WHERE conname = 'job_blobs_job_id_fkey'") == 1);
  }  // rolled back: the session is idle again
  const auto report = core::Migrator().Migrate(conn);
  CHECK(report.from_version == 6);
  CHECK(report.to_version == core::Migrator().LatestVersion());
  CHECK(db.Scalar<long long>("SELECT count(*) FROM pg_constraint WHERE conname = 'job_blobs_job_id_fkey'") == 0);
  CHECK(BlobCount(db) == 1);
  db.Sql("DELETE FROM jobqueue.jobs WHERE id = " + std::to_string(id));
  CHECK(BlobCount(db) == 0);
}
