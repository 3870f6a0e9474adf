// jobqueue_core_bench: throughput of the queue core against a real Postgres.
//
//   jobqueue_core_bench [--dsn DSN] [--jobs N] [--threads K] [--batch B]
//                       [--queue NAME] [--mode all|enqueue]
//
// --mode all (default): empty the queue, enqueue N no-op jobs (timed), vacuum
// and checkpoint (untimed), then K threads each loop Claim(B) + CompleteMany
// until the queue is empty (timed), verify every job succeeded exactly once,
// and print one JSON line.
// --mode enqueue: stop after the vacuum and checkpoint, leaving N queued
// jobs; bench/core.sh uses it so the pgbench ceiling starts from the very
// same table state as the Queue run.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/job.hpp"
#include "core/pg/connection.hpp"
#include "core/queue.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace core = jobqueue::core;

// Large enough to amortise the round trip, small enough that one statement's
// jsonb input stays a few hundred kB.
constexpr std::size_t kEnqueueChunk = 5000;

struct Options {
  std::string dsn;  // empty: libpq's PG* variables
  long jobs = 20000;
  int threads = 1;
  int batch = 10;
  std::string queue = "bench";
  std::string mode = "all";
};

[[noreturn]] void Usage(const std::string& problem) {
  if (!problem.empty()) std::cerr << "jobqueue_core_bench: " << problem << "\n";
  std::cerr << "usage: jobqueue_core_bench [--dsn DSN] [--jobs N] [--threads K] [--batch B]\n"
            << "                           [--queue NAME] [--mode all|enqueue]\n";
  std::exit(problem.empty() ? 0 : 2);
}

long PositiveNumber(const std::string& flag, const std::string& text) {
  try {
    std::size_t used = 0;
    const long value = std::stol(text, &used);
    if (used == text.size() && value >= 1) return value;
  } catch (const std::exception&) {
  }
  Usage(flag + ": expected a positive integer, got '" + text + "'");
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "-h" || flag == "--help") Usage("");
    if (i + 1 >= argc) Usage(flag + ": missing value");
    const std::string value = argv[++i];
    if (flag == "--dsn") o.dsn = value;
    else if (flag == "--jobs") o.jobs = PositiveNumber(flag, value);
    else if (flag == "--threads") o.threads = static_cast<int>(PositiveNumber(flag, value));
    else if (flag == "--batch") o.batch = static_cast<int>(PositiveNumber(flag, value));
    else if (flag == "--queue") o.queue = value;
    else if (flag == "--mode") o.mode = value;
    else Usage("unknown option '" + flag + "'");
  }
  if (o.mode != "all" && o.mode != "enqueue") Usage("--mode: expected all or enqueue");
  return o;
}

// Ad-hoc SQL outside a transaction block (VACUUM refuses to run inside one).
pqxx::result Sql(core::pg::Connection& conn, const std::string& sql) {
  return conn.Guard([&] {
    pqxx::nontransaction tx(conn.Raw());
    return tx.exec(sql);
  });
}

double Seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// Empties the queue and enqueues `jobs` no-op jobs; returns enqueue seconds.
double Prefill(core::pg::Connection& conn, const Options& o) {
  Sql(conn, "DELETE FROM jobqueue.jobs WHERE queue = " + conn.Raw().quote(o.queue));
  core::Queue queue(conn);
  core::NewJob job;
  job.kind = "noop";
  job.queue = o.queue;
  const auto started = Clock::now();
  for (long done = 0; done < o.jobs;) {
    const auto n = std::min<long>(kEnqueueChunk, o.jobs - done);
    queue.EnqueueMany(std::vector<core::NewJob>(n, job));
    done += n;
  }
  const double seconds = Seconds(started, Clock::now());
  // Untimed: each run starts from a freshly analysed table with no dead rows
  // from the previous run and no checkpoint pending, so runs are comparable.
  Sql(conn, "VACUUM ANALYZE jobqueue.jobs");
  Sql(conn, "CHECKPOINT");
  return seconds;
}

// K workers, each with its own session as in production. All connect first
// and then start together, so connection setup is not timed.
double Process(const Options& o) {
  std::mutex mu;
  std::condition_variable cv;
  int ready = 0;
  bool go = false;
  Clock::time_point started;
  std::vector<Clock::time_point> finished(o.threads);
  std::vector<std::exception_ptr> errors(o.threads);
  std::atomic<long> lost{0};

  std::vector<std::thread> workers;
  for (int t = 0; t < o.threads; ++t) {
    workers.emplace_back([&, t] {
      try {
        std::unique_ptr<core::pg::Connection> conn;
        try {
          conn = std::make_unique<core::pg::Connection>(o.dsn);
        } catch (...) {
          errors[t] = std::current_exception();
        }
        {
          std::unique_lock<std::mutex> lock(mu);
          ++ready;
          cv.notify_all();
          cv.wait(lock, [&] { return go; });
        }
        if (!conn) return;
        core::Queue queue(*conn);
        core::ClaimRequest request;
        request.queues = {o.queue};
        request.limit = o.batch;
        request.worker_id = "bench-" + std::to_string(t);
        // An empty claim means done: SKIP LOCKED only skips rows another
        // worker holds, and that worker completes them.
        for (;;) {
          const auto jobs = queue.Claim(request);
          if (jobs.empty()) break;
          std::vector<core::Lease> leases;
          leases.reserve(jobs.size());
          for (const auto& job : jobs) leases.push_back(job.lease);
          for (const auto r : queue.CompleteMany(leases)) {
            if (r != core::WriteResult::kDone) ++lost;
          }
        }
        finished[t] = Clock::now();
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return ready == o.threads; });
    started = Clock::now();
    go = true;
    cv.notify_all();
  }
  for (auto& w : workers) w.join();
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  if (lost > 0) throw std::runtime_error(std::to_string(lost.load()) + " leases lost");
  return Seconds(started, *std::max_element(finished.begin(), finished.end()));
}

// Every job of the queue succeeded, exactly `jobs` of them: none lost,
// none left running or queued, none duplicated.
void Verify(core::pg::Connection& conn, const Options& o) {
  const auto rows = Sql(conn,
                        "SELECT state::text, count(*) FROM jobqueue.jobs WHERE queue = " +
                            conn.Raw().quote(o.queue) + " GROUP BY state ORDER BY state");
  bool ok = rows.size() == 1 && rows[0][0].as<std::string>() == "succeeded" &&
            rows[0][1].as<long>() == o.jobs;
  if (!ok) {
    std::cerr << "jobqueue_core_bench: verification failed; expected " << o.jobs
              << " succeeded jobs in queue '" << o.queue << "', found:";
    for (const auto& row : rows) std::cerr << " " << row[0].c_str() << "=" << row[1].c_str();
    std::cerr << "\n";
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = ParseOptions(argc, argv);
  try {
    core::pg::Connection conn(o.dsn);
    const double enqueue_seconds = Prefill(conn, o);
    if (o.mode == "enqueue") return 0;
    const double process_seconds = Process(o);
    Verify(conn, o);
    std::printf(
        "{\"enqueue_jobs_per_s\":%.1f,\"processed_jobs_per_s\":%.1f,\"jobs\":%ld,"
        "\"threads\":%d,\"batch\":%d}\n",
        o.jobs / enqueue_seconds, o.jobs / process_seconds, o.jobs, o.threads, o.batch);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "jobqueue_core_bench: " << e.what() << "\n";
    return 1;
  }
}
