// Many workers, each with its own connection, racing for the same jobs.
// Counted at the end: none lost, none completed twice.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include "core/queue.hpp"
#include "core/reaper.hpp"
#include "support/pg_fixture.hpp"

using namespace jobqueue;
using jobqueue::testing::CountCompletions;
using jobqueue::testing::MakeJob;
using jobqueue::testing::TestDatabase;

TEST_CASE("racing workers complete every job exactly once", "[pg][concurrency]") {
  constexpr int kJobs = 20000;
  constexpr int kWorkers = 8;
  TestDatabase db;
  CountCompletions(db);
  {
    core::pg::Connection conn(db.dsn());
    core::Queue queue(conn);
    std::vector<core::NewJob> batch;
    for (int i = 0; i < kJobs; ++i) batch.push_back(MakeJob("noop", {{"i", i}}));
    REQUIRE(queue.EnqueueMany(batch).size() == kJobs);
  }

  std::mutex mutex;
  std::unordered_map<core::JobId, int> done_by_us;  // kDone results per job
  std::atomic<int> lost{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      core::pg::Connection conn(db.dsn());
      core::Queue queue(conn);
      core::ClaimRequest request;
      request.worker_id = "worker-" + std::to_string(w);
      request.limit = 1 + w * 7 % 25;  // mixed batch sizes
      request.lease_seconds = 300;
      std::vector<core::JobId> mine;
      while (true) {
        const auto jobs = queue.Claim(request);
        if (jobs.empty()) break;
        std::vector<core::Lease> leases;
        for (const auto& j : jobs) leases.push_back(j.lease);
        // Half the time one by one, half in one statement.
        std::vector<core::WriteResult> results;
        if (w % 2 == 0) {
          results = queue.CompleteMany(leases);
        } else {
          for (const auto& l : leases) results.push_back(queue.Complete(l, {{"by", w}}));
        }
        for (std::size_t i = 0; i < leases.size(); ++i) {
          if (results[i] == core::WriteResult::kDone) {
            mine.push_back(leases[i].job_id);
          } else {
            ++lost;
          }
        }
      }
      std::lock_guard<std::mutex> lock(mutex);
      for (auto id : mine) ++done_by_us[id];
    });
  }
  for (auto& t : workers) t.join();

  CHECK(lost == 0);
  CHECK(done_by_us.size() == kJobs);
  int twice = 0;
  for (const auto& [id, count] : done_by_us) twice += count != 1;
  CHECK(twice == 0);
  CHECK(db.Scalar<int>("SELECT count(*) FROM jobqueue.jobs WHERE state = 'succeeded'") == kJobs);
  CHECK(db.Scalar<int>("SELECT count(*) FROM jobqueue.jobs WHERE state <> 'succeeded'") == 0);
  CHECK(db.Scalar<int>("SELECT count(*) FROM jobqueue.jobs WHERE attempts <> 1") == 0);
  CHECK(db.Scalar<int>("SELECT count(*) FROM public.completions") == kJobs);
  CHECK(db.Scalar<int>("SELECT count(DISTINCT job_id) FROM public.completions") == kJobs);
}

TEST_CASE("workers racing a reaper with short leases still complete each job once", "[pg][concurrency]") {
  constexpr int kJobs = 2000;
  TestDatabase db;
  {
    core::pg::Connection conn(db.dsn());
    core::Queue queue(conn);
    std::vector<core::NewJob> batch(kJobs, MakeJob());
    queue.EnqueueMany(batch);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> done{0};
  std::thread reaper_thread([&] {
    core::pg::Connection conn(db.dsn());
    core::Reaper reaper(conn);
    while (!stop) reaper.ReclaimExpired(100);
  });
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&, w] {
      core::pg::Connection conn(db.dsn());
      core::Queue queue(conn);
      core::ClaimRequest request;
      request.worker_id = "w" + std::to_string(w);
      request.limit = 20;
      // Leases so short some expire before completion: those must be refused.
      request.lease_seconds = 0.002;
      for (int idle = 0; idle < 200 && done < kJobs;) {
        const auto jobs = queue.Claim(request);
        if (jobs.empty()) {
          ++idle;
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          continue;
        }
        for (const auto& j : jobs) {
          if (queue.Complete(j.lease) == core::WriteResult::kDone) ++done;
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  stop = true;
  reaper_thread.join();
  // Reclaimed jobs wait out their backoff; finish them with a long lease.
  {
    core::pg::Connection conn(db.dsn());
    core::Queue queue(conn);
    core::ClaimRequest request;
    request.worker_id = "finisher";
    request.limit = 100;
    request.now = db.NowPlus("1 day");
    for (auto jobs = queue.Claim(request); !jobs.empty(); jobs = queue.Claim(request)) {
      for (const auto& j : jobs) {
        if (queue.Complete(j.lease) == core::WriteResult::kDone) ++done;
      }
    }
  }
  CHECK(done == kJobs);
  CHECK(db.Scalar<int>("SELECT count(*) FROM jobqueue.jobs WHERE state = 'succeeded'") == kJobs);
}

TEST_CASE("fifty concurrent enqueues with one key create one job", "[pg][concurrency]") {
  TestDatabase db;
  constexpr int kClients = 50;
  std::vector<std::unique_ptr<core::pg::Connection>> conns;
  for (int i = 0; i < kClients; ++i) conns.push_back(std::make_unique<core::pg::Connection>(db.dsn()));
  std::atomic<int> ready{0};
  std::atomic<int> created{0};
  std::vector<core::JobId> ids(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      core::Queue queue(*conns[i]);
      auto job = MakeJob("noop", {{"client", i}});
      job.idempotency_key = "the-one-key";
      ++ready;
      while (ready < kClients) std::this_thread::yield();
      const auto r = queue.Enqueue(job);
      ids[i] = r.id;
      if (r.created) ++created;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(created == 1);
  for (auto id : ids) CHECK(id == ids[0]);
  CHECK(db.Scalar<int>("SELECT count(*) FROM jobqueue.jobs") == 1);
}

// Batches that share idempotency keys, each listing them in its own order.
// Inserted in input order, two such batches could each hold a key the other
// waits for, and PostgreSQL would abort one with a deadlock (40P01); the
// statement inserts in key order so they queue behind each other instead.
TEST_CASE("concurrent batches sharing keys in different orders never deadlock", "[pg][concurrency]") {
  TestDatabase db;
  constexpr int kThreads = 4, kRounds = 30, kKeysPerRound = 64;
  std::atomic<int> errors{0};
  std::atomic<int> arrived{0};  // a barrier: every round starts together
  std::mutex mutex;
  std::string first_error;
  std::map<std::string, std::set<core::JobId>> ids_by_key;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      core::pg::Connection conn(db.dsn());
      core::Queue queue(conn);
      std::mt19937 random(static_cast<unsigned>(t + 1));
      for (int round = 0; round < kRounds; ++round) {
        std::vector<core::NewJob> batch;
        for (int k = 0; k < kKeysPerRound; ++k) {
          auto job = MakeJob("noop", {{"t", t}});
          job.idempotency_key = "round-" + std::to_string(round) + "-key-" + std::to_string(k);
          batch.push_back(std::move(job));
        }
        std::shuffle(batch.begin(), batch.end(), random);
        ++arrived;
        while (arrived < kThreads * (round + 1)) std::this_thread::yield();
        try {
          const auto results = queue.EnqueueMany(batch);
          std::lock_guard<std::mutex> lock(mutex);
          for (std::size_t i = 0; i < batch.size(); ++i) ids_by_key[*batch[i].idempotency_key].insert(results[i].id);
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> lock(mutex);
          if (errors++ == 0) first_error = e.what();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  INFO("first error: " << first_error);
  CHECK(errors == 0);
  CHECK(ids_by_key.size() == static_cast<std::size_t>(kRounds * kKeysPerRound));
  for (const auto& [key, ids] : ids_by_key) CHECK(ids.size() == 1);
  CHECK(db.Scalar<int>("SELECT count(*) FROM jobqueue.jobs") == kRounds * kKeysPerRound);
}
