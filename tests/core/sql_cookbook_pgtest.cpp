// docs/sql.md, the operators' SQL cookbook, against the real schema: every
// ```sql block of the page is read from the file and run on a migrated
// database that holds known jobs (queued due and future, running with a live
// and an expired lease, succeeded, dead with several errors, cancelled, old
// enough to prune, image jobs with bytes, a leading reaper's lock), and what
// each query answers is checked against those jobs. Read-only blocks run in a
// READ ONLY transaction; the one block that writes must roll back and leave
// nothing. A block added, removed or moved to another heading fails here,
// naming it, until this file knows about it: the page cannot rot.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <array>
#include <pqxx/pqxx>

#include "core/job_blobs.hpp"
#include "core/pg/connection.hpp"
#include "core/queue.hpp"
#include "support/pg_fixture.hpp"

using namespace jobqueue;
using jobqueue::testing::ClaimFor;
using jobqueue::testing::MakeJob;
using jobqueue::testing::TestDatabase;

namespace {

const std::string kDocPath = std::string(JOBQUEUE_SOURCE_DIR) + "/docs/sql.md";

struct SqlBlock {
  std::string heading;     // the `## ` heading the block stands under
  std::string sql;
  int line = 0;            // of the opening fence, 1-based
  bool after_prose = false;  // the last non-blank line before it is a sentence
};

std::string Trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::vector<SqlBlock> ReadSqlBlocks() {
  std::ifstream in(kDocPath);
  REQUIRE(in.good());
  std::vector<SqlBlock> blocks;
  std::string line, heading, previous;  // previous: last non-blank line outside a fence
  bool in_fence = false, in_sql = false;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string t = Trim(line);
    if (in_fence) {
      if (t == "```") {
        in_fence = in_sql = false;
        previous = t;
      } else if (in_sql) {
        blocks.back().sql += line + "\n";
      }
      continue;
    }
    if (StartsWith(t, "```")) {
      in_fence = true;
      in_sql = t == "```sql";
      if (in_sql) {
        SqlBlock b;
        b.heading = heading;
        b.line = number;
        b.after_prose = !previous.empty() && previous[0] != '#' && !StartsWith(previous, "```");
        blocks.push_back(b);
      }
      continue;
    }
    if (StartsWith(t, "## ")) heading = Trim(t.substr(3));
    if (!t.empty()) previous = t;
  }
  REQUIRE_FALSE(in_fence);  // an unclosed fence would swallow the rest of the page
  return blocks;
}

// The ids and facts the checks compare against.
struct Known {
  long long q_old = 0, q_new = 0, q_retry = 0, q_email = 0, img_queued = 0;
  long long r_live = 0, r_stuck = 0;
  long long s1 = 0, s2 = 0, s3 = 0, s_email = 0, s_old = 0, img_done = 0;
  long long c1 = 0, d1 = 0, d2 = 0, d_old = 0, d3 = 0, d4 = 0;
  int leader_pid = 0;
};

// Inserts one job row; `columns` are (column, SQL expression) pairs beside
// queue, kind and state. A running row gets a lease token.
long long AddJob(TestDatabase& db, const std::string& queue, const std::string& kind, const std::string& state,
                 const std::vector<std::pair<std::string, std::string>>& columns) {
  std::string names = "queue, kind, state";
  std::string values = "'" + queue + "', '" + kind + "', '" + state + "'";
  for (const auto& [name, value] : columns) {
    names += ", " + name;
    values += ", " + value;
  }
  if (state == "running") {
    names += ", lease_token";
    values += ", gen_random_uuid()";
  }
  return db.Scalar<long long>("INSERT INTO jobqueue.jobs (" + names + ") VALUES (" + values + ") RETURNING id");
}

std::string Ago(const std::string& interval) { return "now() - interval '" + interval + "'"; }
std::string Quoted(const std::string& s) { return "'" + s + "'"; }

// A succeeded job that finished `minutes` ago after running `seconds`, due
// `wait` seconds before it started.
long long AddSucceeded(TestDatabase& db, const std::string& queue, const std::string& kind, const std::string& owner,
                       int minutes, int seconds, int wait,
                       std::vector<std::pair<std::string, std::string>> more = {}) {
  const std::string m = std::to_string(minutes) + " minutes";
  const std::string finished = Ago(m);
  const std::string started = Ago(m + " " + std::to_string(seconds) + " seconds");
  const std::string run_at = Ago(m + " " + std::to_string(seconds + wait) + " seconds");
  std::vector<std::pair<std::string, std::string>> columns = {
      {"attempts", "1"},          {"lease_owner", Quoted(owner)}, {"finished_at", finished},
      {"started_at", started},    {"run_at", run_at},             {"created_at", run_at}};
  columns.insert(columns.end(), more.begin(), more.end());
  return AddJob(db, queue, kind, "succeeded", columns);
}

long long AddDead(TestDatabase& db, const std::string& queue, const std::string& kind, const std::string& error,
                  const std::string& finished_ago, const std::string& owner, int attempts) {
  return AddJob(db, queue, kind, "dead",
                {{"attempts", std::to_string(attempts)}, {"max_attempts", std::to_string(std::max(attempts, 1))},
                 {"last_error", Quoted(error)}, {"finished_at", Ago(finished_ago)},
                 {"started_at", Ago(finished_ago + " 1 second")}, {"created_at", Ago(finished_ago + " 1 day")},
                 {"run_at", Ago(finished_ago + " 2 seconds")}, {"lease_owner", Quoted(owner)}});
}

Known Arrange(TestDatabase& db, core::pg::Connection& conn) {
  Known k;
  core::Queue queue(conn);
  core::JobBlobs blobs(conn);

  // Image jobs first, through the real upload and completion: one done
  // (3000 bytes in, 1000 out), one waiting (2000 bytes in), queue `images`.
  auto image = MakeJob("image.pipeline");
  image.queue = "images";
  k.img_done = blobs.EnqueueWithInput(image, "image/png", std::string(3000, 'p')).id;
  const auto claimed = queue.Claim(ClaimFor(1, "images", "worker-1"));
  REQUIRE(claimed.size() == 1);
  REQUIRE(claimed[0].lease.job_id == k.img_done);
  REQUIRE(blobs.CompleteWithOutput(claimed[0].lease, {{"width", 64}}, "image/png", std::string(1000, 'o')) ==
          core::WriteResult::kDone);
  k.img_queued = blobs.EnqueueWithInput(image, "image/jpeg", std::string(2000, 'j')).id;

  // Queue `default`.
  k.q_old = AddJob(db, "default", "noop", "queued", {{"run_at", Ago("10 minutes")}, {"created_at", Ago("10 minutes")}});
  k.q_new = AddJob(db, "default", "noop", "queued", {{"run_at", Ago("1 minute")}, {"created_at", Ago("1 minute")}});
  k.q_retry = AddJob(db, "default", "noop", "queued",
                     {{"attempts", "3"}, {"run_at", "now() + interval '1 hour'"}, {"created_at", Ago("20 minutes")},
                      {"last_error", "'connection refused'"}});
  k.r_live = AddJob(db, "default", "sleep", "running",
                    {{"attempts", "1"}, {"lease_owner", "'worker-1'"}, {"started_at", Ago("1 minute")},
                     {"lease_expires_at", "now() + interval '5 minutes'"}, {"run_at", Ago("2 minutes")}});
  k.s1 = AddSucceeded(db, "default", "noop", "worker-1", 1, 1, 1, {{"idempotency_key", "'order-42'"}});
  k.s2 = AddSucceeded(db, "default", "noop", "worker-1", 2, 2, 2);
  k.s3 = AddSucceeded(db, "default", "noop", "worker-1", 3, 3, 3);
  k.s_old = AddSucceeded(db, "default", "noop", "worker-2", 200 * 60, 1, 1);
  k.c1 = AddJob(db, "default", "noop", "cancelled", {{"finished_at", Ago("5 minutes")}, {"created_at", Ago("6 minutes")}});
  k.d4 = AddDead(db, "default", "noop", "lease expired at 2024-05-01 10:00:00+00 (owner worker-3, attempt 25)",
                 "9 minutes", "worker-3", 25);

  // Queue `email`.
  k.q_email = AddJob(db, "email", "send", "queued", {{"run_at", Ago("2 minutes")}, {"created_at", Ago("2 minutes")}});
  k.r_stuck = AddJob(db, "email", "send", "running",
                     {{"attempts", "2"}, {"lease_owner", "'worker-2'"}, {"started_at", Ago("10 minutes")},
                      {"lease_expires_at", Ago("2 minutes")}, {"run_at", Ago("11 minutes")}});
  k.s_email = AddSucceeded(db, "email", "send", "worker-2", 4, 10, 30);
  k.d1 = AddDead(db, "email", "send", "smtp: 451 mailbox busy (attempt 25)", "6 minutes", "worker-2", 25);
  k.d2 = AddDead(db, "email", "send", "smtp: 451 mailbox busy (attempt 3)\nretry later", "7 minutes", "worker-2", 3);
  k.d_old = AddDead(db, "email", "send", "smtp: 451 mailbox busy (attempt 7)", "300 hours", "worker-2", 7);

  // Queue `images`: one more, dead.
  k.d3 = AddDead(db, "images", "image.blur", "image_url: HTTP 404", "8 minutes", "worker-2", 1);
  return k;
}

std::string Cell(const pqxx::row& row, const char* column) {
  return row[column].is_null() ? "NULL" : row[column].c_str();
}
long long Int(const pqxx::row& row, const char* column) { return row[column].as<long long>(); }

std::set<long long> Ids(const pqxx::result& r, const char* column = "id") {
  std::set<long long> ids;
  for (const auto& row : r) ids.insert(Int(row, column));
  return ids;
}

// "default" -> row, for results with one row per queue.
std::map<std::string, pqxx::row> ByKey(const pqxx::result& r, const char* column) {
  std::map<std::string, pqxx::row> rows;
  for (const auto& row : r) rows.emplace(Cell(row, column), row);
  return rows;
}

// Every job row and every image, to show that reading the page changed nothing.
std::string Fingerprint(TestDatabase& db) {
  return db.Scalar<std::string>(
      "SELECT (SELECT md5(coalesce(string_agg(j::text, '|' ORDER BY id), '')) FROM jobqueue.jobs AS j) || "
      "(SELECT md5(coalesce(string_agg(b::text, '|' ORDER BY job_id, role), '')) FROM jobqueue.job_blobs AS b)");
}

using Check = std::function<void(const pqxx::result&)>;

// One entry per ```sql block of docs/sql.md, in page order: the heading it
// stands under and what its result must be given Arrange's jobs.
std::vector<std::pair<std::string, Check>> Checks(const Known& k) {
  return {
      {"Depth per queue",
       [](const pqxx::result& r) {
         REQUIRE(r.size() == 3);
         auto q = ByKey(r, "queue");
         REQUIRE(q.count("default"));
         REQUIRE(q.count("email"));
         REQUIRE(q.count("images"));
         const auto& d = q.at("default");
         CHECK(Int(d, "queued") == 3);
         CHECK(Int(d, "due") == 2);
         CHECK(Int(d, "running") == 1);
         CHECK(Int(d, "succeeded") == 4);
         CHECK(Int(d, "dead") == 1);
         CHECK(Int(d, "cancelled") == 1);
         CHECK_THAT(Cell(d, "oldest_due_age"), Catch::StartsWith("00:10:"));
         const auto& e = q.at("email");
         CHECK(Int(e, "queued") == 1);
         CHECK(Int(e, "due") == 1);
         CHECK(Int(e, "running") == 1);
         CHECK(Int(e, "succeeded") == 1);
         CHECK(Int(e, "dead") == 3);
         CHECK(Int(e, "cancelled") == 0);
         CHECK_THAT(Cell(e, "oldest_due_age"), Catch::StartsWith("00:02:"));
         const auto& i = q.at("images");
         CHECK(Int(i, "queued") == 1);
         CHECK(Int(i, "due") == 1);
         CHECK(Int(i, "running") == 0);
         CHECK(Int(i, "succeeded") == 1);
         CHECK(Int(i, "dead") == 1);
         CHECK_THAT(Cell(i, "oldest_due_age"), Catch::StartsWith("00:00:"));
       }},
      {"Finished jobs per kind, from the counts",
       [](const pqxx::result& r) {
         // Summed over kinds, the same finished totals as "Depth per queue".
         std::map<std::string, std::array<long long, 3>> per_queue;
         for (const auto& row : r) {
           auto& t = per_queue[Cell(row, "queue")];
           t[0] += Int(row, "succeeded");
           t[1] += Int(row, "dead");
           t[2] += Int(row, "cancelled");
         }
         CHECK(per_queue["default"] == std::array<long long, 3>{4, 1, 1});
         CHECK(per_queue["email"] == std::array<long long, 3>{1, 3, 0});
         CHECK(per_queue["images"] == std::array<long long, 3>{1, 1, 0});
         CHECK(r.size() >= 3);
       }},
      {"What the autoscaler reads",
       [](const pqxx::result& r) {
         REQUIRE(r.size() == 1);
         CHECK(Int(r[0], "default_depth") == 2);  // q_old, q_new; q_retry is not due
         CHECK(Int(r[0], "all_queues") == 4);     // and q_email, img_queued
       }},
      {"Oldest queued job per queue",
       [&k](const pqxx::result& r) {
         REQUIRE(r.size() == 3);
         auto q = ByKey(r, "queue");
         CHECK(Int(q.at("default"), "id") == k.q_old);
         CHECK(Int(q.at("email"), "id") == k.q_email);
         CHECK(Int(q.at("images"), "id") == k.img_queued);
         CHECK_THAT(Cell(q.at("default"), "waiting"), Catch::StartsWith("00:10:"));
       }},
      {"Stuck jobs: running with an expired lease",
       [&k](const pqxx::result& r) {
         REQUIRE(r.size() == 1);
         CHECK(Int(r[0], "id") == k.r_stuck);
         CHECK(Cell(r[0], "lease_owner") == "worker-2");
         CHECK_THAT(Cell(r[0], "expired_for"), Catch::StartsWith("00:02:"));
       }},
      {"Which workers hold leases now",
       [](const pqxx::result& r) {
         REQUIRE(r.size() == 2);
         CHECK(Cell(r[0], "lease_owner") == "worker-1");
         CHECK(Int(r[0], "running") == 1);
         CHECK(Int(r[0], "expired") == 0);
         CHECK(Cell(r[1], "lease_owner") == "worker-2");
         CHECK(Int(r[1], "running") == 1);
         CHECK(Int(r[1], "expired") == 1);
       }},
      {"Jobs of one worker",
       [&k](const pqxx::result& r) {
         CHECK(Ids(r) == std::set<long long>{k.img_done, k.r_live, k.s1, k.s2, k.s3});
         REQUIRE(r.size() == 5);
         CHECK(Int(r[0], "id") == k.s3);  // newest first
       }},
      {"Error histogram of dead jobs",
       [&k](const pqxx::result& r) {
         REQUIRE(r.size() == 3);
         CHECK(Cell(r[0], "kind") == "send");
         CHECK(Cell(r[0], "error") == "smtp: N mailbox busy (attempt N)");
         CHECK(Int(r[0], "jobs") == 3);
         CHECK(Int(r[0], "example_id") == k.d1);
         CHECK(Cell(r[1], "kind") == "image.blur");
         CHECK(Cell(r[1], "error") == "image_url: HTTP N");
         CHECK(Int(r[1], "jobs") == 1);
         CHECK(Int(r[1], "example_id") == k.d3);
         CHECK(Cell(r[2], "kind") == "noop");
         CHECK(Cell(r[2], "error") == "lease expired at N-N-N N:N:N+N (owner worker-N, attempt N)");
         CHECK(Int(r[2], "jobs") == 1);
         CHECK(Int(r[2], "example_id") == k.d4);
       }},
      {"Jobs retrying now",
       [&k](const pqxx::result& r) {
         REQUIRE(r.size() == 1);
         CHECK(Int(r[0], "id") == k.q_retry);
         CHECK(Int(r[0], "attempts") == 3);
         CHECK(Cell(r[0], "last_error") == "connection refused");
       }},
      {"Outcomes in the last hour",
       [](const pqxx::result& r) {
         std::map<std::string, long long> got;
         for (const auto& row : r) got[Cell(row, "queue") + "/" + Cell(row, "state")] = Int(row, "jobs");
         const std::map<std::string, long long> want = {
             {"default/succeeded", 3}, {"default/dead", 1}, {"default/cancelled", 1}, {"email/succeeded", 1},
             {"email/dead", 2},        {"images/succeeded", 1}, {"images/dead", 1}};
         CHECK(got == want);
       }},
      {"Throughput per minute",
       [](const pqxx::result& r) {
         CHECK(r.size() == 15);
         long long succeeded = 0, dead = 0, cancelled = 0;
         for (const auto& row : r) {
           succeeded += Int(row, "succeeded");
           dead += Int(row, "dead");
           cancelled += Int(row, "cancelled");
         }
         CHECK(succeeded == 5);  // s1, s2, s3, s_email, img_done
         CHECK(dead == 4);       // d1, d2, d3, d4
         CHECK(cancelled == 1);
       }},
      {"Duration per kind over the last hour",
       [](const pqxx::result& r) {
         REQUIRE(r.size() == 3);
         CHECK(Cell(r[0], "kind") == "send");  // slowest p95 first
         auto q = ByKey(r, "kind");
         const auto& noop = q.at("noop");
         CHECK(Int(noop, "jobs") == 3);
         CHECK(Cell(noop, "avg") == "00:00:02");
         CHECK(Cell(noop, "p50") == "00:00:02");
         CHECK(Cell(noop, "max") == "00:00:03");
         CHECK(Int(q.at("send"), "jobs") == 1);
         CHECK(Cell(q.at("send"), "p95") == "00:00:10");
         CHECK(Int(q.at("image.pipeline"), "jobs") == 1);
       }},
      {"Queue wait over the last hour",
       [](const pqxx::result& r) {
         REQUIRE(r.size() == 3);
         auto q = ByKey(r, "queue");
         CHECK(Int(q.at("default"), "jobs") == 3);
         CHECK(Cell(q.at("default"), "p50_wait") == "00:00:02");
         CHECK(Cell(q.at("default"), "max_wait") == "00:00:03");
         CHECK(Int(q.at("email"), "jobs") == 1);
         CHECK(Cell(q.at("email"), "p50_wait") == "00:00:30");
         CHECK(Int(q.at("images"), "jobs") == 1);
       }},
      {"Image bytes stored per queue",
       [](const pqxx::result& r) {
         REQUIRE(r.size() == 2);
         CHECK(Cell(r[0], "queue") == "images");
         CHECK(Cell(r[0], "role") == "input");
         CHECK(Int(r[0], "images") == 2);
         CHECK(Int(r[0], "bytes") == 5000);
         CHECK(Cell(r[0], "size") == "5000 bytes");
         CHECK(Cell(r[1], "role") == "output");
         CHECK(Int(r[1], "images") == 1);
         CHECK(Int(r[1], "bytes") == 1000);
       }},
      {"Table sizes and dead rows",
       [](const pqxx::result& r) {
         std::set<std::string> tables;
         for (const auto& row : r) tables.insert(Cell(row, "table_name"));
         CHECK(tables.count("jobs") == 1);
         CHECK(tables.count("job_blobs") == 1);
       }},
      {"What the reaper will prune next",
       [](const pqxx::result& r) {
         REQUIRE(r.size() == 2);
         CHECK(Cell(r[0], "state") == "succeeded");  // s_old
         CHECK(Int(r[0], "jobs") == 1);
         CHECK(Cell(r[1], "state") == "dead");       // d_old
         CHECK(Int(r[1], "jobs") == 1);
       }},
      {"Which reaper replica leads",
       [&k](const pqxx::result& r) {
         REQUIRE(r.size() == 1);
         CHECK(Int(r[0], "pid") == k.leader_pid);
       }},
      {"Find a job by its idempotency key",
       [&k](const pqxx::result& r) {
         REQUIRE(r.size() == 1);
         CHECK(Int(r[0], "id") == k.s1);
         CHECK(Cell(r[0], "state") == "succeeded");
       }},
      // Gets the result of the statements between BEGIN and ROLLBACK.
      {"Enqueue inside your own transaction",
       [&k](const pqxx::result& r) {
         REQUIRE(r.size() == 1);
         CHECK(r[0][0].as<long long>() > k.d3);  // a new job's id
       }},
  };
}

// A psql meta-command (a line starting with a backslash) or a psql variable
// (:name, :'name'), which only psql would understand.
bool HasMetaCommand(const std::string& sql) {
  std::size_t start = 0;
  while (start < sql.size()) {
    auto end = sql.find('\n', start);
    if (end == std::string::npos) end = sql.size();
    const std::string line = Trim(sql.substr(start, end - start));
    if (StartsWith(line, "\\")) return true;
    for (std::size_t i = 0; i + 1 < line.size(); ++i) {
      const char next = line[i + 1];
      if (line[i] == ':' && (i == 0 || line[i - 1] != ':') && next != ':' &&
          (std::isalpha(static_cast<unsigned char>(next)) || next == '\'' || next == '"')) {
        return true;
      }
    }
    start = end + 1;
  }
  return false;
}

std::string Headings(const std::vector<std::string>& headings) {
  std::string out;
  for (const auto& h : headings) out += "\n  ## " + h;
  return out;
}

}  // namespace

TEST_CASE("every query of docs/sql.md runs against the real schema and answers what it says", "[pg][docs]") {
  const auto blocks = ReadSqlBlocks();
  TestDatabase db;
  core::pg::Connection conn(db.dsn());
  Known k = Arrange(db, conn);

  // A reaper's leadership, as jobqueue-reaper holds it.
  pqxx::connection leader(db.dsn());
  pqxx::nontransaction(leader).exec("SELECT pg_advisory_lock(hashtext('jobqueue.reaper'))");
  k.leader_pid = leader.backendpid();

  const auto checks = Checks(k);

  // The page's shape: the same blocks under the same headings, in order.
  std::vector<std::string> in_doc, in_test;
  for (const auto& b : blocks) in_doc.push_back(b.heading);
  for (const auto& c : checks) in_test.push_back(c.first);
  {
    INFO("docs/sql.md has sql blocks under (in order):" << Headings(in_doc)
         << "\nthis test checks blocks under:" << Headings(in_test)
         << "\nA block was added, removed, renamed or moved: update Checks() in tests/core/sql_cookbook_pgtest.cpp.");
    REQUIRE(in_doc == in_test);
  }

  const std::string before = Fingerprint(db);
  pqxx::connection reader(db.dsn());
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const auto& block = blocks[i];
    INFO("docs/sql.md block " << (i + 1) << " of " << blocks.size() << ", under '## " << block.heading
                              << "' (line " << block.line << "):\n" << block.sql);
    CHECK(block.after_prose);  // one sentence says when to use it
    CHECK_FALSE(HasMetaCommand(block.sql));  // plain SQL only: no psql \x, \set, :variables
    const bool writes = block.sql.find("BEGIN;") != std::string::npos;
    pqxx::result result;
    if (!writes) {
      try {
        pqxx::read_transaction tx(reader);
        result = tx.exec(block.sql);
      } catch (const std::exception& e) {
        FAIL_CHECK("the query failed: " << e.what());
        continue;
      }
    } else {
      // The one block that writes: wrapped in BEGIN ... ROLLBACK, and as
      // written it leaves nothing behind.
      const auto begin = block.sql.find("BEGIN;");
      const auto rollback = block.sql.rfind("ROLLBACK;");
      REQUIRE(rollback != std::string::npos);
      REQUIRE(rollback > begin);
      CHECK(block.sql.find("COMMIT;") == std::string::npos);
      CHECK(block.sql.find("jobqueue.enqueue(") != std::string::npos);
      const auto jobs_before = db.Scalar<long long>("SELECT count(*) FROM jobqueue.jobs");
      try {
        pqxx::nontransaction(reader).exec(block.sql);
      } catch (const std::exception& e) {
        FAIL_CHECK("the block failed as written: " << e.what());
        continue;
      }
      CHECK(db.Scalar<long long>("SELECT count(*) FROM jobqueue.jobs") == jobs_before);
      // What the statements between BEGIN and ROLLBACK answer, rolled back.
      try {
        pqxx::work tx(reader);
        result = tx.exec(block.sql.substr(begin + 6, rollback - begin - 6));
        tx.abort();
      } catch (const std::exception& e) {
        FAIL_CHECK("the statements inside BEGIN ... ROLLBACK failed: " << e.what());
        continue;
      }
      CHECK(db.Scalar<long long>("SELECT count(*) FROM jobqueue.jobs") == jobs_before);
    }
    checks[i].second(result);
  }
  CHECK(Fingerprint(db) == before);  // reading the page changed no job and no image
}
