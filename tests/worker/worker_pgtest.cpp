// The Worker class in-process, with handlers written by the tests: outcomes,
// cancellation when a lease is lost, timeouts, draining, and many workers
// racing. In-process so that ThreadSanitizer sees the worker's own threads.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "core/metrics.hpp"
#include "core/queue.hpp"
#include "support/pg_fixture.hpp"
#include "worker/worker.hpp"

namespace jobqueue::testing {
namespace {

worker::WorkerOptions Options(const TestDatabase& db, const std::string& id) {
  worker::WorkerOptions o;
  o.dsn = db.dsn();
  o.worker_id = id;
  o.concurrency = 4;
  o.batch_size = 4;
  o.poll_interval_seconds = 0.05;
  o.lease_seconds = 30;
  o.heartbeat_seconds = 10;
  o.shutdown_grace_seconds = 5;
  return o;
}

// Runs a Worker on a thread until the test ends (Stop + join).
class RunningWorker {
 public:
  RunningWorker(worker::WorkerOptions options, const worker::HandlerRegistry& handlers)
      : worker_(std::move(options), handlers, &metrics_), thread_([this] { clean_ = worker_.Run(); }) {}
  ~RunningWorker() { StopAndJoin(); }
  bool StopAndJoin() {
    worker_.Stop();
    if (thread_.joinable()) thread_.join();
    return clean_;
  }
  worker::Worker& get() { return worker_; }
  core::Metrics& metrics() { return metrics_; }

 private:
  core::Metrics metrics_;
  worker::Worker worker_;
  bool clean_ = false;
  std::thread thread_;
};

core::JobId Enqueue(TestDatabase& db, const std::string& kind, const nlohmann::json& payload = {},
                    int max_attempts = 25) {
  return db.Scalar<core::JobId>("SELECT jobqueue.enqueue('" + kind + "', '" + payload.dump() +
                                "'::jsonb, max_attempts => " + std::to_string(max_attempts) + ")");
}

std::string State(TestDatabase& db, core::JobId id) {
  return db.Scalar<std::string>("SELECT state FROM jobqueue.jobs WHERE id = " + std::to_string(id));
}

}  // namespace

TEST_CASE("handler outcomes are written: result, retryable error, permanent error, exception",
          "[pg][worker]") {
  TestDatabase db;
  worker::HandlerRegistry handlers;
  handlers.Register("ok", [](const worker::JobContext& ctx) {
    return worker::HandlerOutcome::Success({{"echo", ctx.job.payload}, {"by", ctx.worker_id}});
  });
  handlers.Register("retry", [](const worker::JobContext&) { return worker::HandlerOutcome::Retry("busy"); });
  handlers.Register("perm", [](const worker::JobContext&) { return worker::HandlerOutcome::Permanent("bad input"); });
  handlers.Register("throws", [](const worker::JobContext&) -> worker::HandlerOutcome {
    throw std::runtime_error("boom");
  });
  handlers.Register("nul_result", [](const worker::JobContext&) {
    return worker::HandlerOutcome::Success({{"text", std::string("a\0b", 3)}});
  });
  const auto ok = Enqueue(db, "ok", {{"x", 1}});
  const auto retry = Enqueue(db, "retry");
  const auto perm = Enqueue(db, "perm");
  const auto throws = Enqueue(db, "throws");
  const auto last = Enqueue(db, "retry", {}, 1);
  const auto nul = Enqueue(db, "nul_result");

  RunningWorker w(Options(db, "w1"), handlers);
  REQUIRE(WaitFor([&] {
    return db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE attempts = 1 AND state <> 'running'") == 6;
  }, 10000));
  CHECK(State(db, ok) == "succeeded");
  CHECK(db.Scalar<std::string>("SELECT result::text FROM jobqueue.jobs WHERE id = " + std::to_string(ok)) ==
        R"({"by": "w1", "echo": {"x": 1}})");
  CHECK(State(db, retry) == "queued");
  CHECK(db.Scalar<bool>("SELECT run_at > now() FROM jobqueue.jobs WHERE id = " + std::to_string(retry)));
  CHECK(db.Scalar<std::string>("SELECT last_error FROM jobqueue.jobs WHERE id = " + std::to_string(retry)) == "busy");
  CHECK(State(db, perm) == "dead");
  CHECK(State(db, throws) == "queued");
  CHECK(db.Scalar<std::string>("SELECT last_error FROM jobqueue.jobs WHERE id = " + std::to_string(throws)) ==
        "handler threw: boom");
  CHECK(State(db, last) == "dead");  // max_attempts 1: a retryable error still ends it
  CHECK(State(db, nul) == "dead");
  CHECK(db.Scalar<std::string>("SELECT last_error FROM jobqueue.jobs WHERE id = " + std::to_string(nul))
            .find("cannot store") != std::string::npos);
  CHECK(w.StopAndJoin());
  const auto stats = w.get().Stats();
  CHECK(stats.succeeded == 1);
  CHECK(stats.failed == 5);
  CHECK(w.metrics().Serialize().find("job_completed_total{kind=\"ok\",queue=\"default\"} 1") != std::string::npos);
}

TEST_CASE("the built-in fail kind with fail_attempts fails that many attempts, then succeeds", "[pg][worker]") {
  TestDatabase db;
  worker::HandlerRegistry handlers;
  worker::RegisterBuiltinHandlers(handlers);
  const auto twice = Enqueue(db, "fail", {{"fail_attempts", 2}, {"message", "not yet"}});
  const auto never = Enqueue(db, "fail", {{"fail_attempts", 0}});
  const auto too_few = Enqueue(db, "fail", {{"fail_attempts", 5}}, 2);
  const auto bad = Enqueue(db, "fail", {{"fail_attempts", "two"}});
  const auto id = [](core::JobId j) { return std::to_string(j); };

  RunningWorker w(Options(db, "w1"), handlers);
  // Each failed attempt is queued again after a backoff: bring it forward.
  auto settled = [&] {
    db.Sql("UPDATE jobqueue.jobs SET run_at = now() WHERE state = 'queued' AND run_at > now()");
    return db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE state IN ('succeeded', 'dead')") == 4;
  };
  REQUIRE(WaitFor(settled, 15000));
  CHECK(State(db, twice) == "succeeded");
  CHECK(db.Scalar<std::string>("SELECT attempts || ' ' || result::text FROM jobqueue.jobs WHERE id = " + id(twice)) ==
        R"(3 {"failed_attempts": 2, "succeeded_on_attempt": 3})");
  CHECK(db.Scalar<std::string>("SELECT last_error FROM jobqueue.jobs WHERE id = " + id(twice)) == "not yet");
  CHECK(State(db, never) == "succeeded");
  CHECK(db.Scalar<int>("SELECT attempts FROM jobqueue.jobs WHERE id = " + id(never)) == 1);
  CHECK(State(db, too_few) == "dead");  // max_attempts 2 runs out before the 6th attempt
  CHECK(db.Scalar<int>("SELECT attempts FROM jobqueue.jobs WHERE id = " + id(too_few)) == 2);
  CHECK(State(db, bad) == "dead");
  CHECK(db.Scalar<std::string>("SELECT last_error FROM jobqueue.jobs WHERE id = " + id(bad))
            .find("fail_attempts must be an integer") != std::string::npos);
}

TEST_CASE("a job whose lease is lost is cancelled and its result not written", "[pg][worker]") {
  TestDatabase db;
  std::atomic<bool> saw_cancel{false};
  std::atomic<bool> entered{false};
  worker::HandlerRegistry handlers;
  handlers.Register("long", [&](const worker::JobContext& ctx) {
    entered = true;
    if (!ctx.SleepFor(20)) saw_cancel = true;
    return worker::HandlerOutcome::Success({{"late", true}});
  });
  const auto id = Enqueue(db, "long");
  auto options = Options(db, "w1");
  options.heartbeat_seconds = 0.1;
  RunningWorker w(options, handlers);
  REQUIRE(WaitFor([&] { return entered.load(); }, 10000));
  // Another party takes the job away (as a reaper or an operator would).
  db.Sql("UPDATE jobqueue.jobs SET state = 'cancelled', lease_token = NULL, lease_expires_at = NULL, "
         "finished_at = now() WHERE id = " + std::to_string(id));
  REQUIRE(WaitFor([&] { return saw_cancel.load(); }, 5000));
  CHECK(w.StopAndJoin());
  CHECK(State(db, id) == "cancelled");
  CHECK(db.Scalar<bool>("SELECT result IS NULL FROM jobqueue.jobs WHERE id = " + std::to_string(id)));
  CHECK(w.get().Stats().lease_lost == 1);
}

TEST_CASE("a handler running past its timeout is failed and cancelled", "[pg][worker]") {
  TestDatabase db;
  std::atomic<bool> saw_cancel{false};
  worker::HandlerRegistry handlers;
  handlers.Register("slow", [&](const worker::JobContext& ctx) {
    if (!ctx.SleepFor(20)) saw_cancel = true;
    return worker::HandlerOutcome::Success();
  });
  const auto id = Enqueue(db, "slow");
  auto options = Options(db, "w1");
  options.job_timeout_seconds = 0.3;
  RunningWorker w(options, handlers);
  REQUIRE(WaitFor([&] { return State(db, id) == "queued" && saw_cancel; }, 5000));
  CHECK(db.Scalar<std::string>("SELECT last_error FROM jobqueue.jobs WHERE id = " + std::to_string(id))
            .find("timed out") != std::string::npos);
  CHECK(db.Scalar<int>("SELECT attempts FROM jobqueue.jobs WHERE id = " + std::to_string(id)) == 1);
  CHECK(w.StopAndJoin());
}

TEST_CASE("stopping waits for running jobs and leaves nothing leased", "[pg][worker]") {
  TestDatabase db;
  std::atomic<int> started{0};
  worker::HandlerRegistry handlers;
  handlers.Register("nap", [&](const worker::JobContext& ctx) {
    ++started;
    ctx.SleepFor(0.5);
    return worker::HandlerOutcome::Success();
  });
  for (int i = 0; i < 20; ++i) Enqueue(db, "nap");
  RunningWorker w(Options(db, "w1"), handlers);
  REQUIRE(WaitFor([&] { return started >= 4; }, 10000));
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(w.StopAndJoin());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(4));
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE state = 'running'") == 0);
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE state = 'succeeded'") == started.load());
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE state = 'queued' AND attempts = 0") ==
        20 - started.load());
}

TEST_CASE("a worker records itself in jobqueue.workers while it runs, and as stopped when it drains",
          "[pg][worker]") {
  TestDatabase db;
  std::atomic<bool> release{false};
  std::atomic<int> started{0};
  worker::HandlerRegistry handlers;
  handlers.Register("hold", [&](const worker::JobContext& ctx) {
    ++started;
    while (!release && !ctx.cancelled) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return worker::HandlerOutcome::Success();
  });
  auto options = Options(db, "pod-7");
  options.queues = {"default", "images"};
  options.report_seconds = 0.2;
  const auto row = [&](const std::string& column) {
    return db.Scalar<std::string>("SELECT coalesce(" + column + "::text, 'null') FROM jobqueue.workers WHERE id = 'pod-7'");
  };
  RunningWorker w(options, handlers);
  // At once on start, before any job.
  REQUIRE(WaitFor([&] { return db.Scalar<long>("SELECT count(*) FROM jobqueue.workers") == 1; }, 5000));
  CHECK(row("queues") == "{default,images}");
  CHECK(row("concurrency") == "4");
  CHECK(row("stopped_at") == "null");
  // Then every report_seconds, with the jobs running at the time.
  Enqueue(db, "hold");
  Enqueue(db, "hold");
  REQUIRE(WaitFor([&] { return started == 2; }, 10000));
  CHECK(WaitFor([&] { return row("running") == "2"; }, 5000));
  const auto seen = row("seen_at");
  CHECK(WaitFor([&] { return row("seen_at") != seen; }, 5000));
  release = true;
  CHECK(w.StopAndJoin());
  CHECK(row("stopped_at") != "null");
  CHECK(row("running") == "0");
}

TEST_CASE("a handler that ignores cancellation is abandoned after the grace period", "[pg][worker]") {
  TestDatabase db;
  std::atomic<bool> release{false};
  std::atomic<bool> entered{false};
  worker::HandlerRegistry handlers;
  handlers.Register("stubborn", [&](const worker::JobContext&) {
    entered = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return worker::HandlerOutcome::Success();
  });
  const auto id = Enqueue(db, "stubborn");
  auto options = Options(db, "w1");
  options.shutdown_grace_seconds = 0.3;
  auto w = std::make_unique<RunningWorker>(options, handlers);
  // Started, not just claimed: a claimed job not yet started is handed back.
  REQUIRE(WaitFor([&] { return entered.load(); }, 10000));
  CHECK_FALSE(w->StopAndJoin());  // Run() reports the handler it could not wait for
  // Failed as retryable (after the usual backoff) rather than left to the lease.
  CHECK(State(db, id) == "queued");
  CHECK(db.Scalar<std::string>("SELECT last_error FROM jobqueue.jobs WHERE id = " + std::to_string(id))
            .find("grace period") != std::string::npos);
  release = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the detached thread return
  w.reset();
}

TEST_CASE("several in-process workers with several sessions complete every job exactly once",
          "[pg][worker][concurrency]") {
  constexpr int kJobs = 3000;
  TestDatabase db;
  CountCompletions(db);
  db.Sql("INSERT INTO jobqueue.jobs (kind, payload) SELECT 'echo', jsonb_build_object('i', i) "
         "FROM generate_series(1, " + std::to_string(kJobs) + ") i");
  worker::HandlerRegistry handlers;
  handlers.Register("echo", [](const worker::JobContext& ctx) {
    return worker::HandlerOutcome::Success(ctx.job.payload);
  });
  std::vector<std::unique_ptr<RunningWorker>> workers;
  for (int i = 0; i < 3; ++i) {
    auto options = Options(db, "w" + std::to_string(i));
    options.concurrency = 8 + i * 8;
    options.batch_size = 3 + i * 5;
    options.connections = 1 + i;
    if (i == 1) options.prefetch_max_wait_seconds = 0.5;  // one of them fetches ahead
    workers.push_back(std::make_unique<RunningWorker>(options, handlers));
  }
  REQUIRE(WaitFor([&] {
    return db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE state = 'succeeded'") == kJobs;
  }, 60000));
  std::int64_t succeeded = 0;
  for (auto& w : workers) {
    CHECK(w->StopAndJoin());
    succeeded += w->get().Stats().succeeded;
  }
  CHECK(succeeded == kJobs);
  CHECK(db.Scalar<long>("SELECT count(*) FROM public.completions") == kJobs);
  CHECK(db.Scalar<long>("SELECT count(DISTINCT job_id) FROM public.completions") == kJobs);
  CHECK(db.Scalar<long>("SELECT sum(attempts) FROM jobqueue.jobs") == kJobs);
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE result->>'i' IS NULL") == 0);
}

TEST_CASE("with no history kept, racing workers delete every job that succeeds exactly once",
          "[pg][worker][concurrency]") {
  constexpr int kJobs = 2000;
  TestDatabase db;
  // Every deletion of a row, whoever made it.
  db.Sql("CREATE TABLE public.deletions (job_id bigint NOT NULL, state text NOT NULL)");
  db.Sql("CREATE FUNCTION public.log_deletion() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
         "INSERT INTO public.deletions VALUES (OLD.id, OLD.state); RETURN OLD; END $$");
  db.Sql("CREATE TRIGGER log_deletion AFTER DELETE ON jobqueue.jobs FOR EACH ROW "
         "EXECUTE FUNCTION public.log_deletion()");
  db.Sql("INSERT INTO jobqueue.jobs (kind) SELECT CASE WHEN i % 100 = 0 THEN 'fails' ELSE 'echo' END "
         "FROM generate_series(1, " + std::to_string(kJobs) + ") i");
  worker::HandlerRegistry handlers;
  std::atomic<int> ran{0};
  handlers.Register("echo", [&](const worker::JobContext&) {
    ++ran;
    return worker::HandlerOutcome::Success({{"dropped", true}});
  });
  handlers.Register("fails", [](const worker::JobContext&) { return worker::HandlerOutcome::Permanent("kept"); });
  std::vector<std::unique_ptr<RunningWorker>> workers;
  for (int i = 0; i < 3; ++i) {
    auto options = Options(db, "w" + std::to_string(i));
    options.keep_succeeded = false;
    options.concurrency = 8;
    options.batch_size = 5 + i * 5;
    options.connections = 1 + i;
    workers.push_back(std::make_unique<RunningWorker>(options, handlers));
  }
  REQUIRE(WaitFor([&] { return db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE state <> 'dead'") == 0; },
                  60000));
  std::int64_t succeeded = 0;
  for (auto& w : workers) {
    CHECK(w->StopAndJoin());
    succeeded += w->get().Stats().succeeded;
  }
  constexpr int kFailing = kJobs / 100;
  CHECK(ran == kJobs - kFailing);
  CHECK(succeeded == kJobs - kFailing);
  CHECK(db.Scalar<long>("SELECT count(*) FROM public.deletions") == kJobs - kFailing);
  CHECK(db.Scalar<long>("SELECT count(DISTINCT job_id) FROM public.deletions") == kJobs - kFailing);
  CHECK(db.Scalar<long>("SELECT count(*) FROM public.deletions WHERE state <> 'running'") == 0);
  // Failed jobs stay, for an operator to see, until the reaper prunes them.
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE state = 'dead'") == kFailing);
  CHECK(db.Scalar<long>("SELECT sum(jobs) FROM jobqueue.finished_counts WHERE state = 'dead'") == kFailing);
}

TEST_CASE("fetch-ahead: short jobs are leased beyond the executors; off, never more than the executors",
          "[pg][worker][concurrency]") {
  constexpr int kJobs = 600;
  TestDatabase db;
  CountCompletions(db);
  worker::HandlerRegistry handlers;
  handlers.Register("quick", [](const worker::JobContext&) { return worker::HandlerOutcome::Success(); });
  for (const double max_wait : {0.0, 0.5}) {
    INFO("prefetch_max_wait_seconds " << max_wait);
    db.Sql("DELETE FROM jobqueue.jobs");
    db.Sql("INSERT INTO jobqueue.jobs (kind) SELECT 'quick' FROM generate_series(1, " + std::to_string(kJobs) + ")");
    auto options = Options(db, "prefetch-" + std::to_string(max_wait));
    options.concurrency = 2;
    options.batch_size = 50;
    options.connections = 2;
    options.prefetch_max_wait_seconds = max_wait;
    RunningWorker w(options, handlers);
    REQUIRE(WaitFor([&] {
      return db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE state = 'succeeded'") == kJobs;
    }, 60000));
    CHECK(w.StopAndJoin());
    const auto stats = w.get().Stats();
    CHECK(stats.succeeded == kJobs);
    if (max_wait == 0) {
      CHECK(stats.max_leased <= options.concurrency);
    } else {
      CHECK(stats.max_leased > options.concurrency);  // it did fetch ahead
      CHECK(stats.max_leased <= options.concurrency + 2 * options.batch_size);
    }
  }
  CHECK(db.Scalar<long>("SELECT count(*) FROM public.completions") == 2 * kJobs);
  CHECK(db.Scalar<long>("SELECT count(DISTINCT job_id) FROM public.completions") == 2 * kJobs);
}

TEST_CASE("fetch-ahead: a job never waits unstarted past the bound; when jobs turn slow the rest are handed back",
          "[pg][worker]") {
  TestDatabase db;
  CountCompletions(db);
  // Wall-clock second at which each job's handler started.
  std::mutex mu;
  std::map<core::JobId, double> started;
  worker::HandlerRegistry handlers;
  handlers.Register("timed", [&](const worker::JobContext& ctx) {
    {
      std::lock_guard<std::mutex> lk(mu);
      started[ctx.job.lease.job_id] =
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    }
    ctx.SleepFor(ctx.job.payload.value("seconds", 0.0));
    return worker::HandlerOutcome::Success();
  });
  // Fast jobs first teach the worker that handlers are quick, so it fetches
  // a whole batch ahead; then every job takes 0.3 s, and what it fetched
  // ahead would wait seconds: it must hand those back instead.
  db.Sql("INSERT INTO jobqueue.jobs (kind, payload, priority) "
         "SELECT 'timed', '{\"seconds\": 0.002}', 0 FROM generate_series(1, 200)");
  db.Sql("INSERT INTO jobqueue.jobs (kind, payload, priority) "
         "SELECT 'timed', '{\"seconds\": 0.3}', 1 FROM generate_series(1, 30)");
  constexpr double kMaxWait = 0.4;
  auto options = Options(db, "bounded");
  options.concurrency = 2;
  options.batch_size = 40;
  options.connections = 2;
  options.prefetch_max_wait_seconds = kMaxWait;
  RunningWorker w(options, handlers);
  REQUIRE(WaitFor([&] {
    return db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE state = 'succeeded'") == 230;
  }, 60000));
  CHECK(w.StopAndJoin());
  CHECK(w.get().Stats().released > 0);
  // started_at is the claim of the attempt that ran (a hand-back takes its
  // attempt back, so every job ran as attempt 1).
  CHECK(db.Scalar<long>("SELECT count(*) FROM jobqueue.jobs WHERE attempts <> 1") == 0);
  const auto claims = db.Sql("SELECT id, extract(epoch FROM started_at)::float8 FROM jobqueue.jobs");
  double worst = 0;
  std::lock_guard<std::mutex> lk(mu);
  for (const auto& row : claims) {
    const auto id = row[0].as<core::JobId>();
    REQUIRE(started.count(id) == 1);
    worst = std::max(worst, started[id] - row[1].as<double>());
  }
  INFO("longest wait from claim to handler start: " << worst << " s");
  // The bound, plus the 0.1 s between checks and a round trip on a busy machine.
  CHECK(worst < kMaxWait + 0.5);
  CHECK(db.Scalar<long>("SELECT count(DISTINCT job_id) FROM public.completions") == 230);
}

}  // namespace jobqueue::testing
