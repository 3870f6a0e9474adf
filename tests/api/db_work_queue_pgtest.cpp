// DbWorkQueue and ConnectionPool without HTTP: coalesced submissions keep
// idempotency, late work is refused rather than run, an unreachable database
// is a Transient error and the pool recovers. Tagged [concurrency]: these
// also run under ThreadSanitizer.
#include <atomic>
#include <condition_variable>
#include <map>
#include <set>
#include <mutex>
#include <thread>
#include <string>

#include <catch2/catch.hpp>

#include "api/db_work_queue.hpp"
#include "core/connection_pool.hpp"
#include "core/errors.hpp"
#include "core/local_postgres.hpp"
#include "core/metrics.hpp"
#include "support/pg_fixture.hpp"

namespace jobqueue::testing {
namespace {

// Collects outcomes from worker threads until `expected` arrived.
struct Outcomes {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::pair<std::string, api::EnqueueOutcome>> all;  // (key or "", outcome)

  void Add(std::string key, api::EnqueueOutcome outcome) {
    std::lock_guard<std::mutex> lock(mutex);
    all.emplace_back(std::move(key), std::move(outcome));
    cv.notify_all();
  }
  bool WaitFor(std::size_t expected) {
    std::unique_lock<std::mutex> lock(mutex);
    return cv.wait_for(lock, std::chrono::seconds(60), [&] { return all.size() >= expected; });
  }
};

bool IsTransient(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const Transient&) {
    return true;
  } catch (...) {
    return false;
  }
}

std::string ErrorText(const std::exception_ptr& error) {
  if (!error) return "";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown error";
  }
}

}  // namespace

TEST_CASE("single submissions from many threads are enqueued together, each key once", "[pg][api][concurrency]") {
  TestDatabase db;
  core::Metrics metrics;
  core::ConnectionPool pool(db.dsn(), 2);
  api::DbWorkQueue work(pool, &metrics, {2, std::chrono::milliseconds(30000), 100000, 64});
  Outcomes outcomes;
  constexpr int kThreads = 8, kPerThread = 100;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        api::JobRequest request;
        request.job.kind = "noop";
        request.job.payload = {{"t", t}, {"i", i}};
        std::string key;
        if (i % 10 == 0) {
          key = "key-" + std::to_string(i);  // the same 10 keys from every thread
          request.job.idempotency_key = key;
        }
        if (i % 25 == 1) request.delay_seconds = 60;
        work.SubmitEnqueue(std::move(request), [&, key](api::EnqueueOutcome o) { outcomes.Add(key, std::move(o)); });
      }
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(outcomes.WaitFor(kThreads * kPerThread));
  work.Stop();

  std::map<std::string, std::set<long long>> ids_by_key;
  std::map<std::string, int> created_by_key;
  int created = 0;
  for (const auto& [key, o] : outcomes.all) {
    INFO("error: " << ErrorText(o.error));
    REQUIRE_FALSE(o.error);
    REQUIRE(o.job);
    CHECK(o.job->id == o.id);
    created += o.created ? 1 : 0;
    if (!key.empty()) {
      ids_by_key[key].insert(o.id);
      created_by_key[key] += o.created ? 1 : 0;
    }
  }
  CHECK(ids_by_key.size() == 10);
  for (const auto& [key, ids] : ids_by_key) {
    CHECK(ids.size() == 1);
    CHECK(created_by_key[key] == 1);
  }
  const int expected_rows = kThreads * kPerThread - 10 * (kThreads - 1);
  CHECK(created == expected_rows);
  CHECK(db.Scalar<int>("SELECT count(*) FROM jobqueue.jobs") == expected_rows);
  CHECK(db.Scalar<int>("SELECT count(*) FROM jobqueue.jobs WHERE run_at > now() + interval '50 seconds'") ==
        kThreads * 4);
}

TEST_CASE("a job the database refuses fails alone, not the jobs enqueued with it", "[pg][api][concurrency]") {
  TestDatabase db;
  core::ConnectionPool pool(db.dsn(), 1);
  // One thread, held busy, so that the submissions below queue up and run as one batch.
  api::DbWorkQueue work(pool, nullptr, {1, std::chrono::milliseconds(30000), 1000, 64});
  std::mutex gate_mutex;
  std::condition_variable gate_cv;
  bool open = false;
  work.Submit(
      [&](core::pg::Connection&) {
        std::unique_lock<std::mutex> lock(gate_mutex);
        gate_cv.wait(lock, [&] { return open; });
      },
      [](std::exception_ptr) {});
  Outcomes outcomes;
  for (int i = 0; i < 5; ++i) {
    api::JobRequest request;
    request.job.kind = "noop";
    // Valid RFC 3339 that PostgreSQL still refuses: the 29th of February of 2023 does not exist
    // (the API's own validation would refuse it; here it stands for any value the database refuses).
    if (i == 2) request.job.run_at = "2023-02-29T00:00:00Z";
    work.SubmitEnqueue(std::move(request), [&, i](api::EnqueueOutcome o) { outcomes.Add(std::to_string(i), std::move(o)); });
  }
  {
    std::lock_guard<std::mutex> lock(gate_mutex);
    open = true;
  }
  gate_cv.notify_all();
  REQUIRE(outcomes.WaitFor(5));
  work.Stop();
  for (const auto& [i, o] : outcomes.all) {
    INFO("job " << i);
    if (i == "2") {
      CHECK(o.error);
    } else {
      CHECK_FALSE(o.error);
      CHECK(o.created);
    }
  }
  CHECK(db.Scalar<int>("SELECT count(*) FROM jobqueue.jobs") == 4);
}

TEST_CASE("work that waited longer than its limit is refused, and Stop refuses new work", "[pg][api][concurrency]") {
  TestDatabase db;
  core::ConnectionPool pool(db.dsn(), 1);
  api::DbWorkQueue work(pool, nullptr, {1, std::chrono::milliseconds(100), 1000, 64});
  std::atomic<int> ran{0};
  std::atomic<int> refused{0};
  work.Submit([&](core::pg::Connection&) { std::this_thread::sleep_for(std::chrono::milliseconds(400)); ++ran; },
              [&](std::exception_ptr) { ++refused; });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::exception_ptr late;
  work.Submit([&](core::pg::Connection&) { ++ran; }, [&](std::exception_ptr e) { late = e; ++refused; });
  REQUIRE(WaitFor([&] { return ran + refused == 2; }, 5000));
  CHECK(ran == 1);
  REQUIRE(late);
  CHECK(IsTransient(late));
  work.Stop();
  std::exception_ptr after;
  work.Submit([&](core::pg::Connection&) { ++ran; }, [&](std::exception_ptr e) { after = e; });
  CHECK(IsTransient(after));
  CHECK(ran == 1);
}

TEST_CASE("the pool reports an unreachable database as Transient and recovers when it is back", "[pg][api][concurrency]") {
  TestDatabase db;
  const int port = core::FreeLoopbackPort();  // nothing listens there
  core::ConnectionPool down("host=127.0.0.1 port=" + std::to_string(port) + " connect_timeout=2", 2);
  CHECK_THROWS_AS(down.Acquire(std::chrono::milliseconds(100)), Transient);
  CHECK(down.in_use() == 0);  // the failed borrow gave its slot back

  core::ConnectionPool pool(db.dsn(), 2);
  {
    auto a = pool.Acquire(std::chrono::milliseconds(1000));
    auto b = pool.Acquire(std::chrono::milliseconds(1000));
    CHECK(pool.in_use() == 2);
    CHECK_THROWS_AS(pool.Acquire(std::chrono::milliseconds(50)), Transient);
    CHECK(a->Exec("now_plus_seconds", 1.0).size() == 1);
    // A session the server ends is reconnected by its next user.
    db.Sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
    CHECK_THROWS_AS(a->Exec("now_plus_seconds", 1.0), Transient);
  }
  auto c = pool.Acquire(std::chrono::milliseconds(1000));
  CHECK(c->Exec("now_plus_seconds", 1.0).size() == 1);
}

}  // namespace jobqueue::testing
