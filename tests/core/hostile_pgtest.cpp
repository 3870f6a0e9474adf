// Hostile input through Queue against a real PostgreSQL: quotes, backslashes,
// dollar quotes, SQL injection attempts and Postgres array-literal syntax
// must come back byte for byte; invalid text must be refused before any row
// is written.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/errors.hpp"
#include "core/pg/connection.hpp"
#include "core/queue.hpp"
#include "support/pg_fixture.hpp"

using jobqueue::InvalidArgument;
using jobqueue::core::ClaimRequest;
using jobqueue::core::JobState;
using jobqueue::core::NewJob;
using jobqueue::core::Queue;
using jobqueue::core::WriteResult;
using jobqueue::core::pg::Connection;
using jobqueue::testing::MakeJob;
using jobqueue::testing::TestDatabase;

namespace {

// Short enough for queue and kind (128 bytes), hostile everywhere.
const std::vector<std::string>& HostileStrings() {
  static const std::vector<std::string> strings = {
      "'",
      "''",
      "it's",
      "\\",
      "\\\\",
      "back\\slash\\'quote",
      "$$",
      "$tag$ body $tag$",
      "$1",
      "'; DROP TABLE jobqueue.jobs; --",
      "\"; DROP TABLE jobqueue.jobs; --",
      "\"",
      "\"\"",
      "\"quoted\"",
      "{",
      "}",
      "{}",
      "{a,b}",
      "{\"x\",\"y\"}",
      ",",
      "a,b",
      ",,",
      "NULL",
      "null",
      " leading and trailing ",
      "line1\nline2\r\nline3",
      "tab\there",
      "\x01\x1f\x7f",
      "%s %d %n %%",
      "\\x00",
      "\\u0000",
      "-- comment",
      "/* comment */",
      "?",
      "${HOME} `id` $(id)",
      "<script>alert(1)</script>",
      "caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80 \xD0\x96",
      "\xF4\x8F\xBF\xBF",
      "\xE2\x80\xAE right-to-left",
  };
  return strings;
}

long JobCount(TestDatabase& db) { return db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs"); }

bool JobsTableExists(TestDatabase& db) {
  return db.Scalar<bool>("SELECT to_regclass('jobqueue.jobs') IS NOT NULL");
}

// The field named by the InvalidArgument `fn` throws; fails the test when it
// throws nothing or something else.
template <typename F>
std::string RefusedField(F&& fn) {
  try {
    fn();
  } catch (const InvalidArgument& e) {
    return e.field();
  }
  FAIL("expected InvalidArgument");
  return "";
}

}  // namespace

TEST_CASE("Hostile strings round-trip exactly as queue, kind, key and payload", "[pg][hostile]") {
  TestDatabase db;
  Connection conn(db.dsn());
  Queue queue(conn);
  for (const auto& s : HostileStrings()) {
    INFO("string: " << nlohmann::json(s).dump());
    NewJob job = MakeJob(s, {{s, s}, {"list", {s, s}}, {"nested", {{s, {{"v", s}}}}}});
    job.queue = s;
    job.idempotency_key = s;
    const auto result = queue.Enqueue(job);
    CHECK(result.created);
    const auto stored = queue.Get(result.id);
    REQUIRE(stored);
    CHECK(stored->queue == s);
    CHECK(stored->kind == s);
    REQUIRE(stored->idempotency_key);
    CHECK(*stored->idempotency_key == s);
    CHECK(stored->payload == job.payload);
  }
  CHECK(JobsTableExists(db));
  CHECK(JobCount(db) == static_cast<long>(HostileStrings().size()));
}

TEST_CASE("A hostile idempotency key finds the same job again", "[pg][hostile]") {
  TestDatabase db;
  Connection conn(db.dsn());
  Queue queue(conn);
  for (const auto& s : HostileStrings()) {
    INFO("string: " << nlohmann::json(s).dump());
    NewJob job = MakeJob("noop");
    job.queue = s;
    job.idempotency_key = s;
    const auto first = queue.Enqueue(job);
    const auto again = queue.Enqueue(job);
    CHECK(first.created);
    CHECK_FALSE(again.created);
    CHECK(again.id == first.id);
    // The batch path looks existing keys up with the queue and key it read
    // back from the database.
    const auto batch = queue.EnqueueMany({job});
    REQUIRE(batch.size() == 1);
    CHECK_FALSE(batch[0].created);
    CHECK(batch[0].id == first.id);
  }
  CHECK(JobCount(db) == static_cast<long>(HostileStrings().size()));
}

TEST_CASE("Payload strings of 100 KB round-trip exactly", "[pg][hostile]") {
  TestDatabase db;
  Connection conn(db.dsn());
  Queue queue(conn);
  std::string big;
  const std::string pattern = "'\"\\$${},\n\xF0\x9F\x98\x80 ";
  while (big.size() < 100 * 1024) big += pattern;
  const std::string big_key = big.substr(0, pattern.size() * 100) + "key";  // whole characters
  const nlohmann::json payload = {{"value", big}, {big_key, big}, {"array", {big, big}}};
  const auto id = queue.Enqueue(MakeJob("big", payload)).id;
  const auto stored = queue.Get(id);
  REQUIRE(stored);
  CHECK(stored->payload == payload);
  CHECK(stored->payload["value"].get<std::string>().size() == big.size());
}

TEST_CASE("Hostile strings round-trip through EnqueueMany", "[pg][hostile]") {
  TestDatabase db;
  Connection conn(db.dsn());
  Queue queue(conn);
  std::vector<NewJob> jobs;
  for (const auto& s : HostileStrings()) {
    NewJob job = MakeJob(s, {{s, s}});
    job.queue = s;
    job.idempotency_key = s + "#batch";
    jobs.push_back(job);
  }
  const auto results = queue.EnqueueMany(jobs);
  REQUIRE(results.size() == jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    INFO("string: " << nlohmann::json(jobs[i].kind).dump());
    CHECK(results[i].created);
    const auto stored = queue.Get(results[i].id);
    REQUIRE(stored);
    CHECK(stored->queue == jobs[i].queue);
    CHECK(stored->kind == jobs[i].kind);
    CHECK(stored->idempotency_key == jobs[i].idempotency_key);
    CHECK(stored->payload == jobs[i].payload);
  }
  CHECK(JobsTableExists(db));
}

TEST_CASE("Claim from a hostile queue name returns that queue's job and no other",
          "[pg][hostile]") {
  TestDatabase db;
  Connection conn(db.dsn());
  Queue queue(conn);
  // Decoys named like the pieces a broken array literal would split into.
  for (const std::string decoy : {"a", "b", "", "x", "y", "NULL"}) {
    if (decoy.empty()) continue;
    NewJob job = MakeJob("decoy");
    job.queue = decoy;
    queue.Enqueue(job);
  }
  for (const auto& s : HostileStrings()) {
    if (s == "NULL") continue;  // also a decoy above
    INFO("queue: " << nlohmann::json(s).dump());
    NewJob job = MakeJob(s, {{"q", s}});
    job.queue = s;
    const auto id = queue.Enqueue(job).id;

    ClaimRequest request;
    request.queues = {s};
    request.limit = 10;
    request.worker_id = "worker-1";
    const auto claimed = queue.Claim(request);
    REQUIRE(claimed.size() == 1);
    CHECK(claimed[0].lease.job_id == id);
    CHECK(claimed[0].queue == s);
    CHECK(claimed[0].kind == s);
    CHECK(claimed[0].payload == job.payload);
  }
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE kind = 'decoy' AND state = 'queued'") ==
        5);
}

TEST_CASE("Claim from a queue literally named NULL claims it", "[pg][hostile]") {
  TestDatabase db;
  Connection conn(db.dsn());
  Queue queue(conn);
  NewJob job = MakeJob("noop");
  job.queue = "NULL";
  const auto id = queue.Enqueue(job).id;
  ClaimRequest request;
  request.queues = {"NULL"};
  request.worker_id = "w";
  const auto claimed = queue.Claim(request);
  REQUIRE(claimed.size() == 1);
  CHECK(claimed[0].lease.job_id == id);
}

TEST_CASE("Claim from several hostile queues at once claims from each", "[pg][hostile]") {
  TestDatabase db;
  Connection conn(db.dsn());
  Queue queue(conn);
  const std::vector<std::string> names = {"a,b", "{c}", "d\"e", "f\\g", "'h'"};
  for (const auto& name : names) {
    NewJob job = MakeJob("noop");
    job.queue = name;
    queue.Enqueue(job);
  }
  ClaimRequest request;
  request.queues = names;
  request.limit = 100;
  request.worker_id = "w";
  const auto claimed = queue.Claim(request);
  REQUIRE(claimed.size() == names.size());
  std::vector<std::string> got;
  for (const auto& c : claimed) got.push_back(c.queue);
  CHECK_THAT(got, Catch::Matchers::UnorderedEquals(names));
}

TEST_CASE("A hostile worker id is stored exactly as the lease owner", "[pg][hostile]") {
  TestDatabase db;
  Connection conn(db.dsn());
  Queue queue(conn);
  const std::string worker = "pod-'; DROP TABLE jobqueue.jobs; --\"{},\\";
  const auto id = queue.Enqueue(MakeJob("noop")).id;
  ClaimRequest request;
  request.worker_id = worker;
  REQUIRE(queue.Claim(request).size() == 1);
  const auto stored = queue.Get(id);
  REQUIRE(stored);
  REQUIRE(stored->lease_owner);
  CHECK(*stored->lease_owner == worker);
  CHECK(JobsTableExists(db));
}

TEST_CASE("Hostile fail error text is stored exactly as last_error", "[pg][hostile]") {
  TestDatabase db;
  Connection conn(db.dsn());
  Queue queue(conn);
  std::vector<std::string> errors = HostileStrings();
  std::string big;
  while (big.size() < 100 * 1024) big += "'; DROP TABLE jobqueue.jobs; -- \\ $$ {,} \n";
  errors.push_back(big);
  for (const auto& error : errors) {
    INFO("error: " << nlohmann::json(error).dump().substr(0, 200));
    NewJob job = MakeJob("failing");
    job.queue = "fail-q";
    const auto id = queue.Enqueue(job).id;
    ClaimRequest request;
    request.queues = {"fail-q"};
    request.worker_id = "w";
    const auto claimed = queue.Claim(request);
    REQUIRE(claimed.size() == 1);
    REQUIRE(claimed[0].lease.job_id == id);
    const auto failed = queue.Fail(claimed[0].lease, error, /*permanent=*/true);
    CHECK(failed.write == WriteResult::kDone);
    CHECK(failed.new_state == JobState::kDead);
    const auto stored = queue.Get(id);
    REQUIRE(stored);
    REQUIRE(stored->last_error);
    CHECK(*stored->last_error == error);
  }
  CHECK(JobsTableExists(db));
}

TEST_CASE("Fail stores an error holding NUL and invalid UTF-8 without throwing", "[pg][hostile]") {
  TestDatabase db;
  Connection conn(db.dsn());
  Queue queue(conn);
  const auto id = queue.Enqueue(MakeJob("noop")).id;
  ClaimRequest request;
  request.worker_id = "w";
  const auto claimed = queue.Claim(request);
  REQUIRE(claimed.size() == 1);
  const std::string error = std::string("boom\0after", 10) + " \xFF\xC0\xAF end";
  REQUIRE_NOTHROW(queue.Fail(claimed[0].lease, error, true));
  const auto stored = queue.Get(id);
  REQUIRE(stored);
  REQUIRE(stored->last_error);
  CHECK(stored->last_error->find("boom") != std::string::npos);
  CHECK(stored->last_error->find("after") != std::string::npos);
  CHECK(stored->last_error->find('\0') == std::string::npos);
}

TEST_CASE("A hostile result is stored exactly on Complete", "[pg][hostile]") {
  TestDatabase db;
  Connection conn(db.dsn());
  Queue queue(conn);
  const auto id = queue.Enqueue(MakeJob("noop")).id;
  ClaimRequest request;
  request.worker_id = "w";
  const auto claimed = queue.Claim(request);
  REQUIRE(claimed.size() == 1);
  nlohmann::json result = nlohmann::json::object();
  for (const auto& s : HostileStrings()) result[s] = s;
  CHECK(queue.Complete(claimed[0].lease, result) == WriteResult::kDone);
  const auto stored = queue.Get(id);
  REQUIRE(stored);
  REQUIRE(stored->result);
  CHECK(*stored->result == result);
}

TEST_CASE("Invalid UTF-8 in kind, queue or key is refused naming the field and nothing is inserted",
          "[pg][hostile]") {
  TestDatabase db;
  Connection conn(db.dsn());
  Queue queue(conn);
  const std::vector<std::string> invalid = {"\xFF", "\xC0\xAF", "\xED\xA0\x80", "ok\xE2\x82"};
  for (const auto& bad : invalid) {
    INFO("bytes: " << nlohmann::json(bad).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace));
    NewJob job = MakeJob("k" + bad);
    CHECK(RefusedField([&] { queue.Enqueue(job); }) == "kind");
    job = MakeJob("noop");
    job.queue = "q" + bad;
    CHECK(RefusedField([&] { queue.Enqueue(job); }) == "queue");
    job = MakeJob("noop");
    job.idempotency_key = "i" + bad;
    CHECK(RefusedField([&] { queue.Enqueue(job); }) == "idempotency_key");
  }
  CHECK(JobCount(db) == 0);
}

TEST_CASE("NUL bytes in kind, queue or key are refused naming the field and nothing is inserted",
          "[pg][hostile]") {
  TestDatabase db;
  Connection conn(db.dsn());
  Queue queue(conn);
  const std::string nul("x\0y", 3);
  NewJob job = MakeJob(nul);
  CHECK(RefusedField([&] { queue.Enqueue(job); }) == "kind");
  job = MakeJob("noop");
  job.queue = nul;
  CHECK(RefusedField([&] { queue.Enqueue(job); }) == "queue");
  job = MakeJob("noop");
  job.idempotency_key = nul;
  CHECK(RefusedField([&] { queue.Enqueue(job); }) == "idempotency_key");
  CHECK(JobCount(db) == 0);
}

TEST_CASE("A payload with invalid UTF-8 is refused naming payload and nothing is inserted",
          "[pg][hostile]") {
  TestDatabase db;
  Connection conn(db.dsn());
  Queue queue(conn);
  const auto job = MakeJob("noop", {{"text", std::string("bad \xFF")}});
  CHECK(RefusedField([&] { queue.Enqueue(job); }) == "payload");
  CHECK(JobCount(db) == 0);
}

TEST_CASE("A JSON payload holding \\u0000 is refused with InvalidArgument and nothing is inserted",
          "[pg][hostile]") {
  TestDatabase db;
  Connection conn(db.dsn());
  Queue queue(conn);
  for (const std::string text : {R"({"a":"\u0000"})", R"({"\u0000":1})", R"({"a":["x\u0000y"]})"}) {
    INFO("payload: " << text);
    const auto job = MakeJob("noop", nlohmann::json::parse(text));
    CHECK_THROWS_AS(queue.Enqueue(job), InvalidArgument);
  }
  CHECK(JobCount(db) == 0);
  // The session is still usable afterwards.
  CHECK(queue.Enqueue(MakeJob("noop")).created);
  CHECK(JobCount(db) == 1);
}

TEST_CASE("A JSON payload holding \\u0000 is refused naming the payload field", "[pg][hostile]") {
  // Enqueue's contract: InvalidArgument naming the field.
  TestDatabase db;
  Connection conn(db.dsn());
  Queue queue(conn);
  const auto job = MakeJob("noop", nlohmann::json::parse(R"({"a":"\u0000"})"));
  CHECK(RefusedField([&] { queue.Enqueue(job); }) == "payload");
  CHECK(JobCount(db) == 0);
}

TEST_CASE("EnqueueMany with one invalid job inserts none and names jobs[i].field",
          "[pg][hostile]") {
  TestDatabase db;
  Connection conn(db.dsn());
  Queue queue(conn);
  std::vector<NewJob> jobs = {MakeJob("ok-0"), MakeJob("ok-1"), MakeJob("ok-2"), MakeJob("ok-3")};
  SECTION("invalid kind") {
    jobs[2].kind = std::string("bad\xFF");
    CHECK(RefusedField([&] { queue.EnqueueMany(jobs); }) == "jobs[2].kind");
  }
  SECTION("invalid queue") {
    jobs[1].queue = std::string("q\0q", 3);
    CHECK(RefusedField([&] { queue.EnqueueMany(jobs); }) == "jobs[1].queue");
  }
  SECTION("invalid idempotency key") {
    jobs[3].idempotency_key = std::string(513, 'k');
    CHECK(RefusedField([&] { queue.EnqueueMany(jobs); }) == "jobs[3].idempotency_key");
  }
  SECTION("invalid payload") {
    jobs[0].payload = {{"x", std::string("\xC0\xAF")}};
    CHECK(RefusedField([&] { queue.EnqueueMany(jobs); }) == "jobs[0].payload");
  }
  CHECK(JobCount(db) == 0);
}

TEST_CASE("EnqueueMany with a \\u0000 payload in one job inserts none", "[pg][hostile]") {
  TestDatabase db;
  Connection conn(db.dsn());
  Queue queue(conn);
  std::vector<NewJob> jobs = {MakeJob("ok-0"), MakeJob("ok-1"),
                              MakeJob("bad", nlohmann::json::parse(R"({"a":"\u0000"})"))};
  CHECK_THROWS_AS(queue.EnqueueMany(jobs), InvalidArgument);
  CHECK(JobCount(db) == 0);
  CHECK(queue.EnqueueMany({MakeJob("ok")}).size() == 1);
  CHECK(JobCount(db) == 1);
}

TEST_CASE("SQL injection attempts leave the schema intact", "[pg][hostile]") {
  TestDatabase db;
  Connection conn(db.dsn());
  Queue queue(conn);
  const std::string attack = "x'); DROP TABLE jobqueue.jobs; --";
  NewJob job = MakeJob(attack, {{attack, attack}});
  job.queue = attack;
  job.idempotency_key = attack;
  queue.Enqueue(job);
  queue.EnqueueMany({job});
  ClaimRequest request;
  request.queues = {attack};
  request.worker_id = attack;
  queue.Claim(request);
  CHECK(JobsTableExists(db));
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.schema_migrations") >= 1);
  CHECK(JobCount(db) == 1);
}
