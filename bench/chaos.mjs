// The chaos soak (bench/chaos.sh runs it): a whole jobqueue system on one
// machine under a storm of every fault at once, then an exact account of
// every job. See bench/README.md ("Chaos") for what it checks and why.
//
// The system: PostgreSQL (fsync and synchronous_commit on), jobqueue-api, 4
// jobqueue-worker processes and 2 jobqueue-reaper processes, the real
// binaries, with short leases and a short reaper interval.
// The load: JOBS jobs through the API while the storm runs: single
// submissions and batches, some with idempotency keys sent twice, of kinds
// noop, sleep, fail-once-then-succeed, permanent failure and image.
// The storm, for CHAOS_SECONDS: a random worker SIGKILLed (and started
// again) every KILL_EVERY s; PostgreSQL stopped in immediate mode (no
// shutdown checkpoint) and started again every CRASH_EVERY s; a worker
// SIGSTOPped for twice its lease every STOP_EVERY s, then SIGCONTed; the
// leading reaper SIGKILLed every REAPER_KILL_EVERY s.
//
// Node 18 or newer, nothing but its standard library. Exits 1 if any check
// fails, 2 on bad usage.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const env = process.env;
const num = (name, fallback) => {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) usage(`${name}=${v}: not a number >= 0`);
  return n;
};
function usage(message) {
  console.error(`chaos: ${message}`);
  process.exit(2);
}

const opt = {
  bin: env.BIN_DIR || usage('BIN_DIR (the directory with jobqueue, jobqueue-api, -worker, -reaper) is required'),
  photo: env.PHOTO || usage('PHOTO (a JPEG to upload as image jobs) is required'),
  seconds: num('CHAOS_SECONDS', 600),
  jobs: num('JOBS', 100000),
  seed: num('SEED', 1),
  lease: num('LEASE_SECONDS', 5),
  reaperInterval: num('REAPER_INTERVAL_SECONDS', 1),
  poll: num('POLL_SECONDS', 0.5),
  workers: num('WORKERS', 4),
  concurrency: num('WORKER_CONCURRENCY', 16),
  killEvery: num('KILL_EVERY', 5),
  crashEvery: num('CRASH_EVERY', 60),
  stopEvery: num('STOP_EVERY', 40),
  reaperKillEvery: num('REAPER_KILL_EVERY', 90),
  drainSeconds: num('DRAIN_SECONDS', 240),
  inFlight: num('IN_FLIGHT', 16),
  apiWait: num('API_DB_WAIT_SECONDS', 5),
  keep: env.KEEP === '1',
};
const SLACK_SECONDS = 3;  // scheduling noise on a shared 2-core machine
const command = env.CHAOS_COMMAND || 'bash bench/chaos.sh';

// ---------------------------------------------------------------------------
// Seeded randomness (mulberry32): the same SEED gives the same mix of jobs,
// the same choice of victims and the same fault times.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const loadRandom = rng(opt.seed);
const faultRandom = rng(opt.seed * 7919 + 1);
const pick = (r, n) => Math.floor(r() * n);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => Date.now();
const t0 = now();
const elapsed = () => ((now() - t0) / 1000).toFixed(1);
const say = (message) => console.log(`[${elapsed()} s] ${message}`);

// ---------------------------------------------------------------------------
// PostgreSQL: a cluster of our own, started as a child process so that a
// SIGQUIT to it is exactly `pg_ctl stop -m immediate`.
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'jobqueue-chaos-'));
fs.chmodSync(work, 0o755);
const asRoot = process.getuid() === 0;
let pgUser = {};
if (asRoot) {
  const id = (flag) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  pgUser = { uid: id('-u'), gid: id('-g') };
  if (!Number.isInteger(pgUser.uid)) usage('running as root needs the postgres system user (apt-get install postgresql)');
}
const pgBin = (() => {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => b - a) : [];
  if (!versions.length) usage('no PostgreSQL server in /usr/lib/postgresql (apt-get install postgresql)');
  return `${root}/${versions[0]}/bin`;
})();
const dataDir = path.join(work, 'data');
const pgLog = path.join(work, 'postgres.log');
let pgPort = 0;
let pgProcess = null;

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function runChecked(file, args, options = {}) {
  const r = spawnSync(file, args, { encoding: 'utf8', ...options });
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} failed: ${r.stderr || r.stdout || r.error}`);
  return r.stdout;
}

function psql(sql, db = 'chaos') {
  return runChecked('psql', ['-X', '-q', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p',
    String(pgPort), '-U', 'postgres', '-d', db, '-c', sql], { maxBuffer: 1 << 30 });
}
function psqlRows(sql) {
  return psql(sql).split('\n').filter((l) => l.length).map((l) => l.split('\t'));
}

async function waitFor(what, condition, timeoutMs) {
  const deadline = now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const pgUp = () => spawnSync(`${pgBin}/pg_isready`, ['-q', '-h', '127.0.0.1', '-p', String(pgPort)]).status === 0;

async function startPostgres() {
  const log = fs.openSync(pgLog, 'a');
  if (asRoot) fs.fchownSync(log, pgUser.uid, pgUser.gid);
  pgProcess = spawn(`${pgBin}/postgres`, ['-D', dataDir, '-p', String(pgPort), '-c', 'listen_addresses=127.0.0.1',
    '-c', `unix_socket_directories=${work}`, '-c', 'fsync=on', '-c', 'synchronous_commit=on',
    '-c', 'full_page_writes=on', '-c', 'max_connections=200', '-c', 'autovacuum_naptime=1s'],
  { stdio: ['ignore', log, log], ...pgUser });
  fs.closeSync(log);
  const child = pgProcess;
  child.exited = new Promise((resolve) => child.on('exit', resolve));
  await waitFor('PostgreSQL to accept connections', () => pgUp(), 60000);
}

async function crashPostgres() {
  const child = pgProcess;
  child.kill('SIGQUIT');  // immediate shutdown: no checkpoint, crash recovery on start
  await child.exited;
}

// ---------------------------------------------------------------------------
// The jobqueue processes. Every incarnation of a worker or reaper gets its
// own id (w2.5: slot 2, fifth start), recorded as lease_owner on the jobs it
// claims, so the account can tell which incarnation held what.
const exe = (name) => path.join(opt.bin, name);
const dsn = () => `host=127.0.0.1 port=${pgPort} user=postgres dbname=chaos`;
const procs = new Map();  // name -> { child, id, gen, killedByUs, startedAt, rss: [] }
const unexpectedExits = [];

function startProcess(name, file, extraEnv) {
  const prev = procs.get(name);
  if (prev) retired.push(prev);
  const gen = prev ? prev.gen + 1 : 1;
  const id = `${name}.${gen}`;
  const logFile = path.join(work, `${id}.log`);
  const out = fs.openSync(logFile, 'a');
  const child = spawn(file, [], {
    env: { PATH: env.PATH, DATABASE_URL: dsn(), LOG_LEVEL: 'info', LOG_FORMAT: 'json', ...extraEnv(id) },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  const entry = { child, id, gen, name, killedByUs: false, startedAt: now(), rss: [], logFile };
  child.on('exit', (code, signal) => {
    entry.exitedAt = now();
    if (!entry.killedByUs && !stopping) {
      unexpectedExits.push({ id, code, signal, at: now() });
      say(`UNEXPECTED EXIT of ${id}: code ${code} signal ${signal}`);
    }
  });
  entry.exited = new Promise((resolve) => child.on('exit', resolve));
  procs.set(name, entry);
  return entry;
}

const workerEnv = (id) => ({
  WORKER_ID: id, WORKER_CONCURRENCY: String(opt.concurrency), WORKER_BATCH_SIZE: '10',
  WORKER_LEASE_DURATION_SECONDS: String(opt.lease), WORKER_POLL_INTERVAL_SECONDS: String(opt.poll),
  WORKER_METRICS_PORT: '0', WORKER_SHUTDOWN_GRACE_SECONDS: '2',
});
const reaperEnv = (id) => ({ HOSTNAME: id, REAPER_INTERVAL_SECONDS: String(opt.reaperInterval), REAPER_METRICS_PORT: '0' });
let apiPort = 0;
const apiEnv = () => ({ API_PORT: String(apiPort), API_BIND_ADDRESS: '127.0.0.1', API_DB_WAIT_SECONDS: String(opt.apiWait),
  LOG_LEVEL: 'warn' });

function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

let stopping = false;
async function kill(entry, signal = 'SIGKILL') {
  entry.killedByUs = true;
  if (entry.exitedAt === undefined) entry.child.kill(signal);
  await entry.exited;
}

// ---------------------------------------------------------------------------
// The account's raw material, recorded by triggers in the same transactions
// as the changes themselves, so it survives every crash exactly as the jobs do.
const ACCOUNT_SQL = `
CREATE SCHEMA chaos;
CREATE TABLE chaos.claims (job_id bigint, attempt int, owner text, at timestamptz DEFAULT clock_timestamp());
CREATE TABLE chaos.ends (job_id bigint, attempt int, owner text, new_state text, new_attempts int, reclaimed boolean,
                         at timestamptz DEFAULT clock_timestamp());
CREATE FUNCTION chaos.log_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO chaos.claims (job_id, attempt, owner) VALUES (NEW.id, NEW.attempts, NEW.lease_owner); RETURN NEW; END $$;
CREATE FUNCTION chaos.log_end() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO chaos.ends (job_id, attempt, owner, new_state, new_attempts, reclaimed)
  VALUES (NEW.id, OLD.attempts, OLD.lease_owner, NEW.state::text, NEW.attempts,
          coalesce(NEW.last_error, '') LIKE 'lease expired%' AND NEW.last_error IS DISTINCT FROM OLD.last_error);
  RETURN NEW; END $$;
CREATE TRIGGER chaos_claim AFTER UPDATE ON jobqueue.jobs FOR EACH ROW
  WHEN (NEW.state = 'running' AND OLD.state <> 'running') EXECUTE FUNCTION chaos.log_claim();
CREATE TRIGGER chaos_end AFTER UPDATE ON jobqueue.jobs FOR EACH ROW
  WHEN (OLD.state = 'running' AND NEW.state <> 'running') EXECUTE FUNCTION chaos.log_end();
`;

// ---------------------------------------------------------------------------
// The load.
const photo = fs.readFileSync(opt.photo);
const KINDS = [  // [name, share]
  ['noop', 0.47], ['sleep', 0.30], ['fail_once', 0.12], ['fail_permanent', 0.08], ['image', 0.03],
];
function kindOf(r) {
  let x = r();
  for (const [name, share] of KINDS) {
    if ((x -= share) < 0) return name;
  }
  return 'noop';
}
// What each kind is submitted as, and the state it must end in.
function jobBody(kind, i, attempt, key) {
  const mark = { chaos: i, try: attempt };
  const body = { noop: { kind: 'noop', payload: mark },
    sleep: { kind: 'sleep', payload: { ...mark, seconds: 0.05 + (i % 5) * 0.05 } },
    fail_once: { kind: 'fail', payload: { ...mark, fail_attempts: 1, message: 'fails once on purpose' } },
    fail_permanent: { kind: 'fail', payload: { ...mark, permanent: true, message: 'fails for good on purpose' } },
  }[kind];
  if (key) body.idempotency_key = key;
  return body;
}
const EXPECTED = { noop: 'succeeded', sleep: 'succeeded', fail_once: 'succeeded', fail_permanent: 'dead', image: 'succeeded' };

const answers = new Map();  // "route status code" -> count
const tally = (route, status, code = '') => {
  const k = `${route} ${status}${code ? ` ${code}` : ''}`;
  answers.set(k, (answers.get(k) || 0) + 1);
};
const problems = [];  // answers that must never happen
const latencies = [];  // ms of every answer
const unavailableAt = [];  // every 503: when its request was sent
const jobs = [];      // i -> { kind, key, acked: id|null, tries: [{try, outcome}], unknown: bool }
let submitted = 0;

// One request on a connection of its own (no keep-alive: a pooled
// connection the server closed between requests would look like a failure
// of the API). Answers that must never happen go to `problems`.
function request(method, target, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: apiPort, method, path: target, agent: false,
      headers: body ? { ...headers, 'Content-Length': Buffer.byteLength(body) } : headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout((opt.apiWait + 10) * 1000, () => req.destroy(Object.assign(new Error('timeout'), { name: 'TimeoutError' })));
    req.on('error', reject);
    req.end(body);
  });
}

async function call(route, method, target, body, headers = {}) {
  const started = now();
  try {
    const res = await request(method, target, body, headers);
    let json = null;
    try { json = JSON.parse(res.text); } catch { /* not JSON */ }
    const code = json && json.error ? json.error.code : '';
    tally(route, res.status, code);
    latencies.push(now() - started);
    if (res.status === 503) unavailableAt.push({ at: started, code, target });
    if (res.status >= 500 && res.status !== 503) problems.push(`${method} ${target}: ${res.status} ${res.text.slice(0, 200)}`);
    return { status: res.status, json, code };
  } catch (e) {
    const what = e.name === 'TimeoutError' ? 'no answer within the wait limit' : `connection failed: ${e.message}`;
    tally(route, 'no answer');
    problems.push(`${method} ${target}: ${what}`);
    return { status: -1, json: null, code: 'none' };
  }
}

// One job or a batch, retried while the answer says nothing was written.
// Returns when acknowledged, or when the outcome is unknown and a retry
// could create the job twice (no idempotency key).
async function submitSingle(i, sendTwice) {
  const job = jobs[i];
  for (let attempt = 1; ; attempt++) {
    let r;
    if (job.kind === 'image') {
      r = await call('POST /v1/images', 'POST', `/v1/images?ops=thumbnail:48x48,grayscale&idempotency_key=${job.key}`,
        photo, { 'Content-Type': 'image/jpeg' });
    } else {
      r = await call('POST /v1/jobs', 'POST', '/v1/jobs', JSON.stringify(jobBody(job.kind, i, attempt, job.key)),
        { 'Content-Type': 'application/json' });
    }
    job.tries.push({ try: attempt, status: r.status, code: r.code });
    if (r.status === 201 || r.status === 202 || (r.status === 200 && job.key)) {
      const id = r.json.id;
      if (job.acked !== null && job.acked !== id) problems.push(`job ${i}: acknowledged as ${job.acked} and ${id}`);
      job.acked = id;
      if (!sendTwice) return;
      sendTwice = false;  // the same key again: must answer 200 with the same job
      continue;
    }
    if (r.status === 503 && (r.code === 'database_unavailable' || (r.code === 'outcome_unknown' && job.key))) {
      await sleep(200 + pick(loadRandom, 300));
      continue;
    }
    if (r.status === 503 && r.code === 'outcome_unknown') {
      job.unknown = true;
      return;
    }
    problems.push(`job ${i}: unexpected answer ${r.status} ${r.code}`);
    return;
  }
}

async function submitBatch(ids) {
  for (let attempt = 1; ; attempt++) {
    const body = JSON.stringify({ jobs: ids.map((i) => jobBody(jobs[i].kind, i, attempt, jobs[i].key)) });
    const r = await call('POST /v1/jobs/batch', 'POST', '/v1/jobs/batch', body, { 'Content-Type': 'application/json' });
    for (const i of ids) jobs[i].tries.push({ try: attempt, status: r.status, code: r.code });
    if (r.status === 201) {
      r.json.jobs.forEach((j, k) => { jobs[ids[k]].acked = j.id; });
      return;
    }
    const allKeyed = ids.every((i) => jobs[i].key);
    if (r.status === 503 && (r.code === 'database_unavailable' || (r.code === 'outcome_unknown' && allKeyed))) {
      await sleep(200 + pick(loadRandom, 300));
      continue;
    }
    if (r.status === 503 && r.code === 'outcome_unknown') {
      for (const i of ids) jobs[i].unknown = true;
      return;
    }
    problems.push(`batch ${ids[0]}..: unexpected answer ${r.status} ${r.code}`);
    return;
  }
}

// Requests that must be refused, whatever the database is doing.
async function badRequest() {
  const which = pick(loadRandom, 3);
  const r = which === 0
    ? await call('POST /v1/jobs (bad)', 'POST', '/v1/jobs', '{"kind": "noop",', { 'Content-Type': 'application/json' })
    : which === 1
      ? await call('POST /v1/jobs (bad)', 'POST', '/v1/jobs', '{"kind": "noop", "colour": "red"}', { 'Content-Type': 'application/json' })
      : await call('POST /v1/images (bad)', 'POST', '/v1/images', Buffer.from('GIF87a, or so it says'), { 'Content-Type': 'image/jpeg' });
  if (r.status < 400 || r.status >= 500) problems.push(`an intended bad request got ${r.status} ${r.code}`);
}

async function read() {
  const r = pick(loadRandom, 2) === 0 ? await call('GET /v1/queues', 'GET', '/v1/queues')
    : await call('GET /v1/jobs/{id}', 'GET', `/v1/jobs/${1 + pick(loadRandom, Math.max(1, submitted))}`);
  if (![200, 404, 503].includes(r.status)) problems.push(`a read got ${r.status} ${r.code}`);
}

async function runLoad(loadSeconds) {
  for (let i = 0; i < opt.jobs; i++) {
    const kind = kindOf(loadRandom);
    const keyed = kind === 'image' || loadRandom() < 0.3;
    jobs.push({ kind, key: keyed ? `${kind}-${i}` : null, acked: null, tries: [], unknown: false });
  }
  // Units: a single job (70%, a keyed one sent twice) or a batch of 2..20.
  const units = [];
  for (let i = 0; i < opt.jobs;) {
    if (jobs[i].kind === 'image' || loadRandom() < 0.7) {
      units.push({ single: i, twice: jobs[i].key !== null && loadRandom() < 0.5 });
      i++;
    } else {
      const n = Math.min(2 + pick(loadRandom, 19), opt.jobs - i);
      const ids = [];
      for (let k = 0; k < n && i < opt.jobs; i++) {
        if (jobs[i].kind === 'image') break;
        ids.push(i);
        k++;
      }
      if (ids.length) units.push({ batch: ids });
    }
  }
  const perUnitMs = (loadSeconds * 1000) / units.length;
  const running = new Set();
  const startedAt = now();
  for (let u = 0; u < units.length; u++) {
    const due = startedAt + u * perUnitMs;
    if (due > now()) await sleep(due - now());
    while (running.size >= opt.inFlight) await Promise.race(running);
    const unit = units[u];
    const extra = loadRandom();
    const p = (async () => {
      if (unit.batch) await submitBatch(unit.batch);
      else await submitSingle(unit.single, unit.twice);
      submitted += unit.batch ? unit.batch.length : 1;
      if (extra < 0.01) await badRequest();
      else if (extra < 0.03) await read();
    })();
    running.add(p);
    p.finally(() => running.delete(p));
  }
  await Promise.all(running);
}

// ---------------------------------------------------------------------------
// The storm.
const faults = [];  // { kind, target, at, until? }
let reaperTakeovers = [];

async function storm(seconds) {
  const end = t0 + seconds * 1000;
  const schedule = [];
  const every = (kind, period, offset) => {
    if (period > 0) for (let t = offset; t < seconds; t += period) schedule.push({ kind, at: t0 + t * 1000 });
  };
  every('worker_kill', opt.killEvery, opt.killEvery);
  every('postgres_crash', opt.crashEvery, opt.crashEvery / 2);
  every('worker_stop', opt.stopEvery, opt.stopEvery / 3);
  every('reaper_kill', opt.reaperKillEvery, opt.reaperKillEvery / 2);
  schedule.sort((a, b) => a.at - b.at);
  const pending = [];
  for (const f of schedule) {
    if (f.at > now()) await sleep(f.at - now());
    if (now() >= end) break;
    if (f.kind === 'worker_kill') {
      const slot = `w${1 + pick(faultRandom, opt.workers)}`;
      const entry = procs.get(slot);
      faults.push({ kind: 'worker_kill', target: entry.id, at: now() });
      await kill(entry);
      startProcess(slot, exe('jobqueue-worker'), workerEnv);
    } else if (f.kind === 'worker_stop') {
      const slot = `w${1 + pick(faultRandom, opt.workers)}`;
      const entry = procs.get(slot);
      const fault = { kind: 'worker_stop', target: entry.id, at: now() };
      faults.push(fault);
      entry.child.kill('SIGSTOP');
      pending.push((async () => {
        await sleep(opt.lease * 2 * 1000);
        fault.until = now();
        entry.child.kill('SIGCONT');  // too late: its leases were reclaimed; completing must be refused
      })());
    } else if (f.kind === 'postgres_crash') {
      const fault = { kind: 'postgres_crash', target: 'postgres', at: now() };
      faults.push(fault);
      await crashPostgres();
      await sleep(1000);
      await startPostgres();
      fault.until = now();
      say(`PostgreSQL crashed and back in ${((fault.until - fault.at) / 1000).toFixed(1)} s`);
    } else if (f.kind === 'reaper_kill') {
      // The leader now: its log's last word on leadership is that it leads
      // (after a crash both lose it, and either may win it back).
      const leads = (e) => {
        const log = fs.readFileSync(e.logFile, 'utf8');
        return log.lastIndexOf('became the leader') > log.lastIndexOf('lost leadership');
      };
      let leader;
      for (let waited = 0; !leader && waited < 10000; waited += 100) {
        leader = [...procs.values()].find((e) => e.name.startsWith('r') && e.exitedAt === undefined && leads(e));
        if (!leader) await sleep(100);
      }
      const entry = leader || procs.get('r1');
      const other = [...procs.values()].find((e) => e.name.startsWith('r') && e !== entry);
      const fault = { kind: 'reaper_kill', target: entry.id, at: now() };
      faults.push(fault);
      await kill(entry);
      const watch = !leader ? Promise.resolve() : (async () => {
        const before = fs.readFileSync(other.logFile, 'utf8').split('became the leader').length - (leads(other) ? 1 : 0);
        const deadline = now() + 60000;
        while (now() < deadline) {
          if (fs.readFileSync(other.logFile, 'utf8').split('became the leader').length > before) {
            reaperTakeovers.push((now() - fault.at) / 1000);
            return;
          }
          await sleep(100);
        }
        reaperTakeovers.push(Infinity);
      })();
      pending.push(watch);
      // Started again after a while: a pod rescheduled.
      pending.push(sleep(5000).then(() => { if (!stopping) startProcess(entry.name, exe('jobqueue-reaper'), reaperEnv); }));
    }
  }
  await Promise.all(pending);
}

// ---------------------------------------------------------------------------
// The account.
function percentile(values, p) {
  if (!values.length) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

function account() {
  const checks = [];
  const check = (name, ok, detail = '') => checks.push({ name, ok, detail });
  const rows = psqlRows(`SELECT id, kind, state, attempts, coalesce(payload->>'chaos', ''), coalesce(payload->>'try', ''),
                                coalesce(idempotency_key, ''), coalesce(result::text, '') FROM jobqueue.jobs`);
  const byId = new Map();
  const byMark = new Map();  // "i/try" -> row
  const dupMarks = [];
  for (const [id, kind, state, attempts, chaos, tryNo, key, result] of rows) {
    const row = { id: Number(id), kind, state, attempts: Number(attempts), chaos, tryNo, key, result };
    byId.set(row.id, row);
    if (chaos !== '') {
      const m = `${chaos}/${tryNo}`;
      if (byMark.has(m)) dupMarks.push(m);
      byMark.set(m, row);
    }
  }
  // Acknowledged jobs exist, as what was acknowledged; refused ones do not.
  let acked = 0; let missing = 0; let wrongKind = 0; let refusedButThere = 0; let unknown = 0; let unknownThere = 0;
  let createdTwice = dupMarks.length;  // one try stored twice
  const seenJob = new Map();
  for (let i = 0; i < jobs.length; i++) {
    const job = jobs[i];
    if (job.acked !== null) {
      acked++;
      const row = byId.get(job.acked);
      if (!row) missing++;
      else if (job.kind !== 'image' && Number(row.chaos) !== i) wrongKind++;
      else if (job.kind === 'image' && row.key !== job.key) wrongKind++;
      if (seenJob.has(job.acked)) problems.push(`jobs ${seenJob.get(job.acked)} and ${i} acknowledged as one id`);
      seenJob.set(job.acked, i);
    }
    if (job.unknown) {
      unknown++;
      if (job.tries.some((t) => byMark.has(`${i}/${t.try}`))) unknownThere++;
    }
    if (job.kind !== 'image') {
      for (const t of job.tries) {
        const there = byMark.get(`${i}/${t.try}`);
        if (there && t.code === 'database_unavailable') refusedButThere++;
      }
      // Two of its tries stored: a refusal or unknown outcome that was in fact a commit, sent again.
      if (job.tries.filter((t) => byMark.has(`${i}/${t.try}`)).length > 1) createdTwice++;
    }
  }
  check('every acknowledged job exists, as acknowledged', missing === 0 && wrongKind === 0,
    `${acked} acknowledged, ${missing} missing, ${wrongKind} not the job acknowledged`);
  check('no job the API refused (database_unavailable) exists', refusedButThere === 0, `${refusedButThere} found`);
  check('no job created twice', createdTwice === 0, `${createdTwice} duplicates`);

  // Terminal, in the state the kind implies; attempts counted right.
  let notTerminal = 0; let wrongState = 0; let wrongAttempts = 0;
  const claims = new Map(); const ends = new Map();
  for (const [job, attempt, owner, at] of psqlRows(`SELECT job_id, attempt, owner, extract(epoch FROM at) * 1000 FROM chaos.claims`)) {
    if (!claims.has(+job)) claims.set(+job, []);
    claims.get(+job).push({ attempt: +attempt, owner, at: +at });
  }
  for (const [job, attempt, owner, state, newAttempts, reclaimed, at] of psqlRows(
    `SELECT job_id, attempt, owner, new_state, new_attempts, reclaimed, extract(epoch FROM at) * 1000 FROM chaos.ends`)) {
    if (!ends.has(+job)) ends.set(+job, []);
    ends.get(+job).push({ attempt: +attempt, owner, state, newAttempts: +newAttempts, reclaimed: reclaimed === 't', at: +at });
  }
  let completedTwice = 0; let succeeded = 0; let dead = 0;
  const kindCount = {};
  for (let i = 0; i < jobs.length; i++) {
    const job = jobs[i];
    if (job.acked === null) continue;
    const row = byId.get(job.acked);
    if (!row) continue;
    kindCount[job.kind] = (kindCount[job.kind] || 0) + 1;
    if (!['succeeded', 'dead', 'cancelled'].includes(row.state)) notTerminal++;
    else if (row.state !== EXPECTED[job.kind] && !(row.state === 'dead' && row.attempts >= 25)) wrongState++;
    if (row.state === 'succeeded') succeeded++;
    if (row.state === 'dead') dead++;
    const c = claims.get(row.id) || [];
    const e = ends.get(row.id) || [];
    const completions = e.filter((x) => x.state === 'succeeded').length;
    if (completions !== (row.state === 'succeeded' ? 1 : 0)) completedTwice++;
    const released = e.filter((x) => x.newAttempts === x.attempt - 1).length;
    if (row.attempts !== c.length - released) wrongAttempts++;
    if (job.kind === 'fail_once' && row.state === 'succeeded') {
      const r = JSON.parse(row.result);
      if (r.succeeded_on_attempt !== row.attempts || row.attempts < 2) wrongAttempts++;
    }
  }
  check('every acknowledged job is terminal', notTerminal === 0, `${notTerminal} not terminal`);
  check('each in the state its kind implies', wrongState === 0, `${wrongState} wrong`);
  check('no job completed twice (each succeeded job exactly once)', completedTwice === 0, `${completedTwice}`);
  check('attempts = claims that started (a release takes its claim back)', wrongAttempts === 0, `${wrongAttempts} wrong`);

  // Recovery: each claim a fault cut off (its lease reclaimed) to the job's
  // next claim. The bound: lease + reaper interval + the retry backoff of
  // that attempt (2^attempt s, +25% jitter) + the poll interval + the time
  // PostgreSQL was down in between + slack.
  const hitsBy = {};
  const recoveries = []; const unattributed = []; let overBound = 0; const worst = [];
  const faultsFor = (owner) => faults.filter((f) => f.target === owner || f.kind === 'postgres_crash');
  for (const [jobId, list] of ends) {
    for (const end of list) {
      if (!end.reclaimed) continue;
      const claim = (claims.get(jobId) || []).filter((c) => c.owner === end.owner && c.attempt === end.attempt).pop();
      // The fault: the first one, before the reclaim, that still lasted when
      // the claim was made (a claim statement can run on after its worker
      // was killed, until the server notices: hence 2 s of grace).
      const fault = claim && faultsFor(end.owner).find((f) => f.at <= end.at && (f.until || f.at) >= claim.at - 2000);
      if (!fault) {
        unattributed.push(`job ${jobId} attempt ${end.attempt} owner ${end.owner} claimed at ${claim ? ((claim.at - t0) / 1000).toFixed(1) : '?'} s, reclaimed at ${((end.at - t0) / 1000).toFixed(1)} s`);
        continue;
      }
      const next = (claims.get(jobId) || []).find((c) => c.at > end.at);
      const recoveredAt = next ? next.at : end.at;
      const seconds = (recoveredAt - fault.at) / 1000;
      const down = faults.filter((f) => f.kind === 'postgres_crash' && f.until && f.until > fault.at && f.at < recoveredAt)
        .reduce((s, f) => s + (Math.min(f.until, recoveredAt) - Math.max(f.at, fault.at)) / 1000, 0);
      const bound = opt.lease + opt.reaperInterval + 1.25 * 2 ** Math.min(end.attempt, 30) + opt.poll + down + SLACK_SECONDS;
      recoveries.push(seconds);
      hitsBy[fault.kind] = (hitsBy[fault.kind] || 0) + 1;
      if (seconds > bound) { overBound++; worst.push(`job ${jobId} attempt ${end.attempt}: ${seconds.toFixed(1)} s > ${bound.toFixed(1)} s (${fault.kind})`); }
    }
  }
  check('recovery from every fault within lease + reaper interval + backoff', overBound === 0,
    `${recoveries.length} jobs hit, ${overBound} over${worst.length ? `: ${worst.slice(0, 3).join('; ')}` : ''}`);
  check('the other reaper took over after each reaper kill', reaperTakeovers.every((s) => s <= 2 * opt.reaperInterval + 5),
    reaperTakeovers.map((s) => `${s.toFixed(1)} s`).join(', ') || 'no reaper killed');
  check('API: never a 5xx but 503, never a hang, the bad requests refused with 4xx', problems.length === 0,
    problems.slice(0, 5).join('; '));
  // A 503 says the database is down now: not before a crash, nor long
  // after it is back (an idle session that only finds out on its next use).
  const outOfOutage = unavailableAt.filter((u) => !faults.some((f) => f.kind === 'postgres_crash' &&
    u.at >= f.at - 100 && u.at <= (f.until || Infinity) + 3000));
  check('503 only while PostgreSQL was down (or within 3 s of its return)', outOfOutage.length === 0,
    `${unavailableAt.length} answers 503, ${outOfOutage.length} outside${outOfOutage.length ? `: ${outOfOutage.slice(0, 3).map((u) => `${u.code} ${u.target.slice(0, 40)} at ${((u.at - t0) / 1000).toFixed(1)} s`).join('; ')}` : ''}`);
  const slowest = Math.max(0, ...latencies) / 1000;
  check('every answer within the wait limit (API_DB_WAIT_SECONDS + connect timeout 5 s)', slowest <= opt.apiWait + 5 + 1,
    `slowest ${slowest.toFixed(2)} s, p99 ${(percentile(latencies, 99) / 1000).toFixed(3)} s`);
  check('no process exited unless killed', unexpectedExits.length === 0,
    unexpectedExits.map((x) => `${x.id} ${x.code ?? x.signal}`).join(', '));
  // Flat memory: the long-lived processes' RSS in the last quarter of the
  // storm against the second quarter.
  const memory = [];
  for (const entry of [...procs.values(), ...retired].filter((e) => e.name === 'api' || e.name.startsWith('r'))) {
    const span = (entry.exitedAt || stormEnd) - entry.startedAt;
    if (span < 60000 || entry.rss.length < 8) continue;
    const q = (a, b) => entry.rss.filter((s) => s.at >= entry.startedAt + a * span && s.at <= entry.startedAt + b * span).map((s) => s.kib);
    const early = Math.max(...q(0.25, 0.5)); const late = Math.max(...q(0.75, 1));
    memory.push({ id: entry.id, early, late, ok: late <= early * 1.25 + 8192 });
  }
  check('memory of the API and the reapers flat (last quarter <= second quarter x1.25 + 8 MiB)', memory.every((m) => m.ok),
    memory.map((m) => `${m.id} ${(m.early / 1024).toFixed(1)} -> ${(m.late / 1024).toFixed(1)} MiB`).join(', ') || 'run too short to judge');
  return { checks, acked, succeeded, dead, unknown, unknownThere, recoveries, unattributed, kindCount, memory, hitsBy };
}

// ---------------------------------------------------------------------------
const retired = [];
let stormEnd = 0;

async function main() {
  pgPort = await freePort();
  apiPort = await freePort();
  if (asRoot) fs.chownSync(work, pgUser.uid, pgUser.gid);
  runChecked(`${pgBin}/initdb`, ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
    { ...pgUser, cwd: work });
  await startPostgres();
  psql('CREATE DATABASE chaos', 'postgres');
  runChecked(exe('jobqueue'), ['migrate'], { env: { ...env, DATABASE_URL: dsn() } });
  psql(ACCOUNT_SQL);
  say(`PostgreSQL ${path.basename(path.dirname(pgBin))} on port ${pgPort}, data in ${work}`);

  startProcess('api', exe('jobqueue-api'), apiEnv);
  for (let r = 1; r <= 2; r++) startProcess(`r${r}`, exe('jobqueue-reaper'), reaperEnv);
  for (let w = 1; w <= opt.workers; w++) startProcess(`w${w}`, exe('jobqueue-worker'), workerEnv);
  await waitFor('the API to be ready', async () => {
    try { return (await request('GET', '/ready')).status === 200; } catch { return false; }
  }, 30000);
  const sampler = setInterval(() => {
    for (const e of procs.values()) {
      if (e.exitedAt !== undefined) continue;
      const kib = rssKiB(e.child.pid);
      if (kib !== null) e.rss.push({ at: now(), kib });
    }
  }, 2000);

  say(`storm: ${opt.seconds} s, ${opt.jobs} jobs, seed ${opt.seed}, lease ${opt.lease} s, reaper every ${opt.reaperInterval} s`);
  const loadDone = runLoad(opt.seconds * 0.9);
  await storm(opt.seconds);
  stormEnd = now();
  say('storm over; waiting for the load to finish');
  await loadDone;
  say(`load done: ${submitted} jobs submitted; draining`);
  const drainStart = now();
  let left = -1;
  while (now() - drainStart < opt.drainSeconds * 1000) {
    try {
      left = Number(psql(`SELECT count(*) FROM jobqueue.jobs WHERE state NOT IN ('succeeded', 'dead', 'cancelled')`).trim());
    } catch { left = -1; }
    if (left === 0) break;
    await sleep(1000);
  }
  const drainSeconds = (now() - drainStart) / 1000;
  clearInterval(sampler);
  stopping = true;
  for (const e of procs.values()) {
    if (e.exitedAt === undefined) { e.killedByUs = true; e.child.kill('SIGCONT'); e.child.kill('SIGTERM'); }
  }
  await Promise.all([...procs.values()].map((e) => Promise.race([e.exited, sleep(10000)])));

  const result = account();
  const by = (kind) => faults.filter((f) => f.kind === kind).length;
  const rec = result.recoveries;
  const lines = [];
  lines.push(`Command: ${command}  (effective: CHAOS_SECONDS=${opt.seconds} JOBS=${opt.jobs} SEED=${opt.seed} LEASE_SECONDS=${opt.lease} ` +
    `REAPER_INTERVAL_SECONDS=${opt.reaperInterval} KILL_EVERY=${opt.killEvery} CRASH_EVERY=${opt.crashEvery} ` +
    `STOP_EVERY=${opt.stopEvery} REAPER_KILL_EVERY=${opt.reaperKillEvery})`);
  lines.push('');
  lines.push('| figure | value |', '| --- | ---: |');
  const row = (k, v) => lines.push(`| ${k} | ${v} |`);
  row('jobs submitted', submitted);
  row('acknowledged (201/202, or 200 for a key)', result.acked);
  row('outcome unknown (503 outcome_unknown, no key: not resent) / of them created', `${result.unknown} / ${result.unknownThere}`);
  row('succeeded', result.succeeded);
  row('dead (expected: the permanent failures)', `${result.dead} (${result.kindCount.fail_permanent || 0})`);
  row('lost', result.checks.find((c) => c.name.startsWith('every acknowledged job exists')).ok ? 0 : 'see checks');
  row('completed twice', result.checks.find((c) => c.name.startsWith('no job completed twice')).detail);
  row('workers SIGKILLed', by('worker_kill'));
  row('workers SIGSTOPped past their lease', by('worker_stop'));
  row('PostgreSQL crashes (immediate stop)', by('postgres_crash'));
  row('reapers SIGKILLed', by('reaper_kill'));
  row('jobs a fault cut off (lease reclaimed): by worker kill / stop / crash', `${rec.length}: ${result.hitsBy.worker_kill || 0} / ${result.hitsBy.worker_stop || 0} / ${result.hitsBy.postgres_crash || 0}`);
  row('recovery, fault to next claim: p50 / p99 / worst', `${percentile(rec, 50).toFixed(1)} / ${percentile(rec, 99).toFixed(1)} / ${Math.max(0, ...rec).toFixed(1)} s`);
  row('leases reclaimed with no fault to blame', result.unattributed.length ? `${result.unattributed.length}: ${result.unattributed.slice(0, 3).join('; ')}` : 0);
  row('drain after the storm', `${drainSeconds.toFixed(1)} s`);
  row('API answer time p50 / p99 / slowest', `${(percentile(latencies, 50)).toFixed(0)} ms / ${(percentile(latencies, 99)).toFixed(0)} ms / ${(Math.max(0, ...latencies) / 1000).toFixed(2)} s`);
  for (const [k, v] of [...answers.entries()].sort()) row(`API: ${k}`, v);
  lines.push('');
  lines.push('| check | result | detail |', '| --- | --- | --- |');
  for (const c of result.checks) lines.push(`| ${c.name} | ${c.ok ? 'ok' : '**FAILED**'} | ${c.detail} |`);
  const text = lines.join('\n');
  console.log(`\n${text}\n`);
  if (env.CHAOS_RESULTS) fs.writeFileSync(env.CHAOS_RESULTS, `${text}\n`);
  const failed = result.checks.filter((c) => !c.ok);
  await crashPostgres().catch(() => {});
  if (failed.length) {
    console.log(`chaos: ${failed.length} check(s) failed; logs kept in ${work}`);
    process.exit(1);
  }
  if (!opt.keep) fs.rmSync(work, { recursive: true, force: true });
  else console.log(`chaos: logs kept in ${work}`);
}

main().catch(async (e) => {
  console.error(`chaos: ${e.stack || e}`);
  stopping = true;
  for (const entry of procs.values()) if (entry.exitedAt === undefined) entry.child.kill('SIGKILL');
  if (pgProcess) pgProcess.kill('SIGQUIT');
  console.error(`chaos: logs kept in ${work}`);
  process.exit(1);
});
