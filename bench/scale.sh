#!/usr/bin/env bash
# Scale benchmark: how the current schema (migrations/ and the statements
# in src/core/sql/jobs.sql and api.sql) behaves when the jobs table keeps a
# large history of finished jobs, as it does for JOB_RETENTION_HOURS (a
# week by default). Everything runs in one throwaway
# pg_virtualenv cluster (-t, fsync on) with two databases: scale_base holds
# a table with only the live backlog, the default database the same backlog
# on top of the history.
#
#   bash bench/scale.sh            # 10 million finished jobs, 5 runs: about an hour and 4 GB of disk
#   bash bench/scale.sh --quick    # 1 million finished jobs, 3 runs: about 10 min on 2 busy cores
#
# 1. The backlog-only table: BACKLOG queued, due jobs in queues default,
#    images and reports (80/15/5%), and 20 jobs running under an hour's
#    lease (as live workers would hold them).
# 2. The history, built in SQL in the other database: HISTORY finished jobs
#    inserted with generate_series in chunks of 1,000,000 (a progress line
#    each on stderr): about 97% succeeded, 2% dead (with last_error), 1%
#    cancelled; queues default/images/reports 80/15/5%; kinds noop, sleep,
#    email.send, image.thumbnail, image.pipeline; finished over the last 6
#    days in id order (older ids finished earlier); attempts 1-3;
#    lease_owner worker-N; a small result on the image jobs, NULL on the
#    rest. 95% of the dead jobs are in the oldest third (an incident two
#    days ago; 0.15% of the newer jobs die), the slow case for a
#    newest-first page filtered on state=dead. Then the same backlog and
#    running jobs as in 1, so they have the newest ids, and VACUUM ANALYZE;
#    the table shows how long the build took. The history is built under
#    schema 3 (migrations 0001-0003 applied and recorded as the migrator
#    does) and then upgraded by `jobqueue migrate`, timed: how long the
#    upgrade holds its lock on a table this size.
# 3. Sizes of jobqueue.jobs with the history: pg_total_relation_size,
#    pg_relation_size and pg_indexes_size (each index's in the log).
# 4. Every read an operator, the API or an autoscaler makes, on the
#    history, each the median of RUNS pgbench runs of 20 single-client
#    transactions (-M simple, so each is planned as the API's custom plans
#    are; fewer transactions, at least 3, for a read over 100 ms): GET
#    /v1/queues (queue_depth of jobs.sql), the jobqueue.queue_depth view,
#    the job_queue_depth gauge (api_due_depth), KEDA's
#    jobqueue.scaling_depth() for one queue and for all, pages of GET
#    /v1/jobs (api_list_jobs, 50 newest first) unfiltered and filtered, a
#    later page of dead jobs (the cursor in the middle of the history),
#    api_get_jobs of one old job, the running_jobs and dead_jobs views, and
#    the dashboard's GET /v1/throughput and GET /v1/errors.
#    The API's $n parameters are written into the statement text as
#    literals (NULL where unfiltered). Each read also runs once under
#    EXPLAIN (ANALYZE, BUFFERS), into the log only (scaling_depth's own plan
#    through auto_explain).
# 5. Writes on both tables, beside each other with the ratio (the goal:
#    with the history within 10% of backlog only):
#    * enqueue rate: pgbench, 2 clients, 2000 transactions each of
#      `SELECT jobqueue.enqueue('noop', '{}'::jsonb, queue => 'bench-enqueue')`,
#      one job and one commit per transaction; jobs/s. The jobs are deleted
#      after each run.
#    * claim latency: pgbench, 1 client, bench/lib.sh's script: one
#      transaction is `claim_jobs` (batch 10, queue default) followed by
#      `complete_jobs` of what it claimed, both verbatim from jobs.sql
#      (-M prepared); pgbench's latency average per transaction, and the
#      claim statement's own share (pgbench -r). The completed jobs are
#      deleted after each run.
#    * both again with synchronous_commit off in the session: a commit then
#      does not wait for the WAL flush, which is most of a write's time and
#      on a shared disk its noisiest part (it moved 5x between two runs
#      here), so these show what the statements themselves cost.
#    * afterwards, how many heap pages the BACKLOG queued jobs occupy in
#      each table: a new job goes wherever the free space map finds room.
#    Before each figure of each of the RUNS runs both backlogs are topped up
#    to BACKLOG again, then VACUUM ANALYZE and CHECKPOINT (untimed). Its
#    transactions are then run in 4 slices per table, the two tables taking
#    turns (ABBA), so drift on the machine hits both alike; medians of the
#    runs are shown. Each table's claim plan goes to the log (EXPLAIN,
#    rolled back).
# 6. Prune rate: the PRUNE oldest finished jobs are made eligible (prune's
#    `now`, $3, is the finished_at of the next one; retention 0), and
#    pgbench runs `prune_finished` of jobs.sql in batches of 1000 until a
#    batch deletes nothing; rows/s and the longest batch in ms (pgbench -l).
# 7. Churn: in a third database with the backlog alone, CHURN jobs go
#    through the whole life in rounds of BACKLOG jobs: inserted as queued, drained
#    by `complete_and_claim_jobs` (2 pgbench clients, batches of 100, each on
#    a queue of its own, as jobqueue-worker runs it), pruned by
#    `prune_finished` (retention 0, batches of 1000), with autovacuum as it
#    is by default. Table, heap and index sizes before (backlog only) and
#    after, the drain and prune rates, and a check that the finished counts
#    still equal the table.
# 8. Steady churn on the history: STEADY jobs through the same life in the
#    table that keeps the history, each round pruning as many of the
#    oldest finished jobs as it completed, so the history keeps its size, as
#    a full retention does. Sizes before and after, the rates, and from the
#    server's log (log_autovacuum_min_duration = 0) how many autovacuums
#    ran on jobqueue.jobs meanwhile, how many of them scanned the indexes,
#    and their time; pgstattuple's account of the heap (live, dead, free)
#    and the free space the free space map knows of. STEADY_SQL, when set,
#    runs first (to try a storage setting).
#
# Prints one markdown table (stdout): the command that reproduces it above,
# date, commit, PostgreSQL version, nproc and the load average below.
# Progress goes to stderr; the full log, EXPLAIN plans included, to
# BUILD_DIR/scale-last.log. Nothing is written to bench/results/.
#
# Environment: HISTORY (finished jobs, 10000000; 1000000 with --quick),
# BACKLOG (queued jobs, 10000), PRUNE (jobs pruned, 1000000; 100000 with
# --quick), CHURN (jobs through the churn, 5000000; 500000 with --quick),
# STEADY (jobs through the steady churn, 2000000; 200000 with --quick), RUNS
# (runs per figure, the median is shown: 5; 3 with --quick), ONLY=reads
# (build the history, then only the reads and sizes), ONLY=churn (only the
# churn; the other rows print n/a) or ONLY=steady (build the history, then
# only the steady churn), PG_SETTINGS
# (extra server settings for the cluster, e.g. "autovacuum_naptime=10s"), BUILD_DIR (build-bench, shared with bench/core.sh), NO_BUILD=1 to take
# BUILD_DIR/jobqueue as it is. Only the jobqueue CLI is built (Release), for
# `jobqueue migrate`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
LOG=$BUILD_DIR/scale-last.log
KNOBS="HISTORY BACKLOG PRUNE CHURN STEADY RUNS ONLY PG_SETTINGS"
CHUNK=1000000          # history rows per INSERT
ENQ_TX=2000            # enqueue transactions per client (2 clients)
LIVE_RUNNING=20        # jobs held running during everything
PAGE=50                # api_list_jobs limit
PRUNE_BATCH=1000       # prune_finished limit (REAPER_BATCH_SIZE's default)
SLICES=4               # each write figure's transactions are split in this many turns per table
READ_TX=20             # transactions per read run
SLOW_READ_MS=100       # reads slower than this run fewer transactions


# statement, write_pgbench_script, median, sql
JOBS_SQL=$ROOT/src/core/sql/jobs.sql
API_SQL=$ROOT/src/core/sql/api.sql
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

# Progress lines go to the terminal's stderr (fd 4, kept by the outside part)
# and straight into the log, so they stay in order with what else is logged.
log() {
  if { true >&4; } 2>/dev/null; then
    echo "scale.sh: $*" >>"$LOG"; echo "scale.sh: $*" >&4
  else
    echo "scale.sh: $*" >&2
  fi
}
fail() { log "$*"; exit 1; }
now_ms() { date +%s%3N; }
api_statement() { JOBS_SQL=$API_SQL statement "$1"; }

# ---------------------------------------------------------------------------
# Inside the cluster (re-invoked by pg_virtualenv with PG* variables set).

record() { echo "$1 $2" >>"$tmp/results"; }  # record KEY VALUE
median_of() {
  local vals
  vals=$(awk -v k="$1" '$1 == k { print $2 }' "$tmp/results")
  if [[ -z $vals ]]; then echo "n/a"; else median <<<"$vals"; fi
}

# pgbench's "latency average = X ms" and "tps = X (without initial connection time)".
pgb_latency() { sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' <<<"$1"; }
pgb_tps() { sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' <<<"$1"; }
pgb_xacts() { sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$1"; }

pgb() {  # pgb ARGS...: pgbench -n, its whole output into the log, on stdout too
  local out
  out=$(pgbench -n "$@" 2>&1) || { echo "$out" >&2; fail "pgbench $* failed"; }
  { echo "\$ pgbench -n $*"; echo "$out"; } >>"$LOG"
  echo "$out"
}

# The backlog: BACKLOG queued due jobs, topped up per queue (80/15/5%) to
# what is missing, so every timed run starts from the same backlog.
fill_backlog() {
  local d=$((BACKLOG * 80 / 100)) i=$((BACKLOG * 15 / 100))
  local r=$((BACKLOG - d - i))
  sql "WITH target(queue, kind, n) AS (
         VALUES ('default', 'noop', $d), ('images', 'image.thumbnail', $i), ('reports', 'email.send', $r))
       INSERT INTO jobqueue.jobs (queue, kind, payload)
       SELECT t.queue, t.kind, jsonb_build_object('n', g)
       FROM target AS t
       CROSS JOIN LATERAL generate_series(1, t.n - jobqueue.scaling_depth(ARRAY[t.queue])) AS g" >/dev/null
}

# LIVE_RUNNING jobs of queue default claimed by claim_jobs (literal
# arguments) under an hour's lease, as workers hold them in a live system.
hold_running() {
  local claim
  claim=$(statement claim_jobs | sed "s/[$]1/ARRAY['default']/g; s/[$]2/$LIVE_RUNNING/g; s/[$]3/'worker-live'/g; s/[$]4/3600/g; s/[$]5/NULL/g")
  sql "$claim" >/dev/null
  [[ $(sql "SELECT count(*) FROM jobqueue.jobs WHERE state = 'running'") == "$LIVE_RUNNING" ]] ||
    fail "expected $LIVE_RUNNING running jobs"
}

# The claim's plan on the table as it is, into the log (rolled back).
explain_claim() {
  local claim
  claim=$(statement claim_jobs | sed "s/[$]1/ARRAY['default']/g; s/[$]2/10/g; s/[$]3/'bench-explain'/g; s/[$]4/300/g; s/[$]5/NULL/g")
  {
    echo
    echo "== EXPLAIN (ANALYZE, BUFFERS) of claim_jobs (batch 10, queue default), $1, rolled back"
    printf 'BEGIN;\nEXPLAIN (ANALYZE, BUFFERS)\n%s;\nROLLBACK;\n' "$claim" | psql -X -q -v ON_ERROR_STOP=1
  } >>"$LOG" 2>&1
}

# The two tables live in two databases of the one cluster: PHASE base is
# database scale_base (the backlog only), PHASE hist the default database
# (the history). in_db PHASE CMD... runs CMD against PHASE's database.
in_db() { PGDATABASE=${DB[$1]} "${@:2}"; }

# MODE sync: as users run (each commit waits for the WAL flush); async: the
# session sets synchronous_commit = off, so the figure is the statements'
# own cost without the flush, which on a shared disk is most of the time and
# the noisiest part.
mode_options() { [[ $1 == sync ]] && echo "$PGOPTIONS" || echo "$PGOPTIONS -c synchronous_commit=off"; }

# Before each timed figure (untimed): both backlogs topped up, both tables
# vacuumed and analyzed, one checkpoint.
settle_both() {
  in_db base fill_backlog; in_db hist fill_backlog
  in_db base sql "VACUUM ANALYZE jobqueue.jobs" >/dev/null
  in_db hist sql "VACUUM ANALYZE jobqueue.jobs" >/dev/null
  sql "CHECKPOINT" >/dev/null
}

# The order of the two tables in slice K of run R: they swap every slice
# (ABBA), and the first one changes every run.
slice_order() { if ((($1 + $2) % 2)); then echo "base hist"; else echo "hist base"; fi; }

# enqueue_figure RUN MODE: the enqueue rate of both tables, recorded as
# PHASE.enqueue[_async]. The ENQ_TX transactions per client are run in
# SLICES slices, the tables taking turns, so both see the same disk.
enqueue_figure() {
  local r=$1 mode=$2 k phase out n suffix=""
  local -A elapsed=([base]=0 [hist]=0)
  [[ $mode == sync ]] || suffix=_async
  settle_both
  for ((k = 1; k <= SLICES; k++)); do
    for phase in $(slice_order "$r" "$k"); do
      out=$(PGOPTIONS=$(mode_options "$mode") in_db "$phase" pgb -M prepared -c 2 -j 2 -t $((ENQ_TX / SLICES)) -f "$tmp/enqueue.sql")
      # Elapsed without connection set-up: transactions / tps.
      elapsed[$phase]=$(awk -v e="${elapsed[$phase]}" -v x="$(pgb_xacts "$out")" -v t="$(pgb_tps "$out")" 'BEGIN { print e + x / t }')
    done
  done
  for phase in base hist; do
    n=$(in_db "$phase" sql "WITH d AS (DELETE FROM jobqueue.jobs WHERE queue = 'bench-enqueue' AND state = 'queued' RETURNING 1)
                            SELECT count(*) FROM d")
    ((n == 2 * ENQ_TX)) || fail "enqueue ($phase): $n jobs stored, expected $((2 * ENQ_TX))"
    record "$phase.enqueue$suffix" "$(awk -v n="$n" -v e="${elapsed[$phase]}" 'BEGIN { print n / e }')"
    RUN_LINE+=" $phase.enqueue$suffix=$(awk -v n="$n" -v e="${elapsed[$phase]}" 'BEGIN { printf "%.0f", n / e }')"
  done
}

# claim_figure RUN MODE: the claim + complete latency of both tables,
# recorded as PHASE.claim[_async] (and PHASE.claim_stmt, the claim
# statement alone, in sync mode); CLAIM_TX transactions in SLICES slices.
claim_figure() {
  local r=$1 mode=$2 k phase out tx n suffix=""
  local -A lat=([base]=0 [hist]=0) stmt=([base]=0 [hist]=0)
  [[ $mode == sync ]] || suffix=_async
  tx=$((CLAIM_TX / SLICES))
  settle_both
  for ((k = 1; k <= SLICES; k++)); do
    for phase in $(slice_order "$r" "$k"); do
      out=$(PGOPTIONS=$(mode_options "$mode") in_db "$phase" pgb -M prepared -r -c 1 -j 1 -t "$tx" \
        -f "$tmp/claim_complete.sql" -D "queues={default}" -D batch=10 -D worker=bench-claim -D lease=300)
      lat[$phase]=$(awk -v a="${lat[$phase]}" -v l="$(pgb_latency "$out")" -v s="$SLICES" 'BEGIN { print a + l / s }')
      # pgbench -r: per-statement latencies; the claim is the WITH statement.
      stmt[$phase]=$(awk -v a="${stmt[$phase]}" -v s="$SLICES" \
        '/^statement latencies/ { on = 1; next } on && /WITH candidates/ { print a + $1 / s; exit }' <<<"$out")
    done
  done
  for phase in base hist; do
    n=$(in_db "$phase" sql "WITH d AS (DELETE FROM jobqueue.jobs
                                       WHERE id >= ${FROM[$phase]} AND lease_owner = 'bench-claim'
                                         AND state = 'succeeded' RETURNING 1)
                            SELECT count(*) FROM d")
    ((n == CLAIM_TX * 10)) || fail "claim ($phase): $n jobs completed, expected $((CLAIM_TX * 10))"
    [[ $(in_db "$phase" sql "SELECT count(*) FROM jobqueue.jobs WHERE state = 'running'") == "$LIVE_RUNNING" ]] ||
      fail "claim ($phase): jobs left running"
    record "$phase.claim$suffix" "${lat[$phase]}"
    RUN_LINE+=" $phase.claim$suffix=${lat[$phase]}ms"
    if [[ $mode == sync ]]; then
      record "$phase.claim_stmt" "${stmt[$phase]}"
      RUN_LINE+=" (claim_jobs ${stmt[$phase]}ms)"
    fi
  done
}

# RUNS runs of each write figure on both tables, which take turns in
# slices within every run, so that drift on a shared machine (the disk's
# flush time moved 5x between two runs a minute apart here) hits both alike.
write_runs() {
  local r phase mode
  settle_both
  for phase in base hist; do
    # Jobs of the backlog have ids >= FROM[phase] (top-ups only add larger ones).
    FROM[$phase]=$(in_db "$phase" sql "SELECT min(id) FROM jobqueue.jobs WHERE id > ${BACKLOG_AFTER[$phase]}")
    in_db "$phase" explain_claim "$([[ $phase == base ]] && echo "backlog only" || echo "with the history")"
  done
  for ((r = 1; r <= RUNS; r++)); do
    RUN_LINE=""
    for mode in sync async; do
      enqueue_figure "$r" "$mode"
      claim_figure "$r" "$mode"
    done
    log "writes run $r/$RUNS (jobs/s, ms per transaction):$RUN_LINE"
  done
  # Where the backlog ended up: new jobs go wherever the free space map
  # finds room, which in a table with history is a little in every page.
  for phase in base hist; do
    in_db "$phase" fill_backlog
    record "$phase.backlog_pages" "$(in_db "$phase" sql "SELECT count(DISTINCT (ctid::text::point)[0]) FROM jobqueue.jobs WHERE state = 'queued'")"
  done
}

# One finished job per g in [lo, hi], g = 1..HISTORY in id order; t0 is the
# end of the history (finished_at of g = HISTORY).
history_sql() {
  local lo=$1 hi=$2 t0=$3
  cat <<SQL
INSERT INTO jobqueue.jobs (queue, kind, payload, state, priority, run_at, attempts, max_attempts,
                           lease_owner, last_error, result, created_at, started_at, finished_at)
SELECT queue, kind,
       CASE kind
         WHEN 'noop' THEN jsonb_build_object('n', g)
         WHEN 'sleep' THEN jsonb_build_object('ms', 10 + g % 90)
         WHEN 'email.send' THEN jsonb_build_object('to', 'user' || g % 100000 || '@example.com', 'template', 'welcome')
         ELSE jsonb_build_object('url', 'https://example.com/img/' || g || '.jpg', 'ops', 'thumbnail:256x256')
       END,
       state, 0::smallint, created_at, attempts, 25,
       'worker-' || g % 8,
       CASE WHEN state = 'dead'
            THEN format('permanent: %s failed: %s', kind,
                        (ARRAY['connection refused', 'timeout after 30 s', 'invalid payload'])[1 + (u % 3)::int]) END,
       CASE WHEN state = 'succeeded' AND kind LIKE 'image.%'
            THEN jsonb_build_object('width', 256, 'height', 192, 'bytes', 8000 + u) END,
       created_at, started_at, finished_at
FROM (
  SELECT g, u, queue, finished_at,
         CASE WHEN queue = 'default' THEN (ARRAY['noop', 'noop', 'noop', 'noop', 'sleep', 'sleep', 'email.send'])[1 + (g % 7)::int]
              WHEN queue = 'images' THEN (ARRAY['image.thumbnail', 'image.thumbnail', 'image.pipeline'])[1 + (g % 3)::int]
              ELSE 'email.send' END AS kind,
         -- 2% dead, 95% of them in the oldest third; 1% cancelled; the rest succeeded.
         CASE WHEN (g <= $HISTORY / 3 AND u < 570) OR u < 15 THEN 'dead'
              WHEN u >= 9900 THEN 'cancelled'
              ELSE 'succeeded' END::jobqueue.job_state AS state,
         CASE WHEN u % 100 < 90 THEN 1 WHEN u % 100 < 97 THEN 2 ELSE 3 END AS attempts,
         finished_at - (5 + u * 7 % 2000) * interval '1 millisecond' AS started_at,
         finished_at - (5 + u * 7 % 2000 + g % 50 * 20) * interval '1 millisecond' AS created_at
  FROM (
    SELECT g,
           (hashint8(g)::bigint + 2147483648) % 10000 AS u,  -- uniform 0..9999, independent of g % n
           CASE WHEN g % 20 < 16 THEN 'default' WHEN g % 20 < 19 THEN 'images' ELSE 'reports' END AS queue,
           '$t0'::timestamptz - interval '6 days' * (($HISTORY - g)::float8 / $HISTORY) AS finished_at
    FROM generate_series($lo::bigint, $hi::bigint) AS g
  ) AS s
) AS t
SQL
}

# Schema 3 only, recorded as the migrator records it (name and sha256 of the
# file), so `jobqueue migrate` afterwards applies what came later.
migrate_to_v3() {
  local f
  sql "CREATE SCHEMA jobqueue;
       CREATE TABLE jobqueue.schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
                                                checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())" >/dev/null
  for f in "$ROOT"/migrations/000[123]_*.sql; do
    psql -X -q -v ON_ERROR_STOP=1 -1 -f "$f" >/dev/null
    sql "INSERT INTO jobqueue.schema_migrations (version, name, checksum)
         VALUES ($((10#$(basename "$f" | cut -c1-4))), '$(basename "$f")', '$(sha256sum "$f" | cut -d' ' -f1)')" >/dev/null
  done
}

build_history() {
  local t0 start lo hi took
  start=$(now_ms)
  migrate_to_v3
  t0=$(sql "SELECT now()")
  for ((lo = 1; lo <= HISTORY; lo += CHUNK)); do
    hi=$((lo + CHUNK - 1)); ((hi <= HISTORY)) || hi=$HISTORY
    psql -X -q -v ON_ERROR_STOP=1 -c "$(history_sql "$lo" "$hi" "$t0")"
    log "history: $hi/$HISTORY finished jobs inserted ($(( ($(now_ms) - start) / 1000 )) s)"
  done
  HIST_FIRST=$(sql "SELECT min(id) FROM jobqueue.jobs")
  HIST_LAST=$(sql "SELECT max(id) FROM jobqueue.jobs")
  BACKLOG_AFTER[hist]=$HIST_LAST
  fill_backlog
  hold_running
  # The upgrade to the current schema on a table this size: its lock is held
  # for as long as the migration runs.
  # Meanwhile one client enqueues a job at a time (a psql per job), to show
  # whether the upgrade holds writes off: the longest enqueue is the figure.
  local m0 stop=$tmp/migrate-done
  rm -f "$stop"
  (
    while [[ ! -e $stop ]]; do
      local e0
      e0=$(now_ms)
      sql "SELECT jobqueue.enqueue('noop', '{}'::jsonb, queue => 'bench-upgrade')" >/dev/null
      echo $(( $(now_ms) - e0 )) >>"$tmp/upgrade-enqueue-ms"
    done
  ) &
  local writer=$!
  sleep 1
  m0=$(now_ms)
  "$BUILD_DIR/jobqueue" migrate >&2
  record migrate_s "$(awk -v t="$(( $(now_ms) - m0 ))" 'BEGIN { print t / 1000 }')"
  touch "$stop"; wait "$writer"
  record upgrade_enqueue_max "$(sort -n "$tmp/upgrade-enqueue-ms" | tail -1)"
  record upgrade_enqueues "$(wc -l <"$tmp/upgrade-enqueue-ms")"
  sql "DELETE FROM jobqueue.jobs WHERE queue = 'bench-upgrade'" >/dev/null
  log "history: jobqueue migrate (schema 3 -> latest) took $(median_of migrate_s) s; $(median_of upgrade_enqueues) enqueues meanwhile, the longest $(median_of upgrade_enqueue_max) ms"
  log "history: VACUUM ANALYZE"
  sql "VACUUM ANALYZE jobqueue.jobs" >/dev/null
  took=$(( $(now_ms) - start ))
  record build_s "$(awk -v t="$took" 'BEGIN { print t / 1000 }')"
  log "history: built in $(awk -v t="$took" 'BEGIN { printf "%.1f", t / 1000 }') s (inserts, backlog, VACUUM ANALYZE)"
  sql "CHECKPOINT" >/dev/null
  {
    echo "== the table after the build (ids $HIST_FIRST..$HIST_LAST are the history)"
    psql -X -v ON_ERROR_STOP=1 -c "SELECT queue, state, count(*), min(finished_at), max(finished_at)
                                    FROM jobqueue.jobs GROUP BY 1, 2 ORDER BY 1, 2"
    psql -X -v ON_ERROR_STOP=1 -c "SELECT kind, count(*) FROM jobqueue.jobs GROUP BY 1 ORDER BY 1"
    psql -X -v ON_ERROR_STOP=1 -c "SELECT width_bucket(id, $HIST_FIRST, $HIST_LAST + 1, 6) AS sixth_of_history,
                                          count(*) FILTER (WHERE state = 'dead') AS dead, count(*) AS jobs
                                   FROM jobqueue.jobs WHERE id <= $HIST_LAST GROUP BY 1 ORDER BY 1"
  } >>"$LOG" 2>&1
}

# The reads. READ_KEYS[i] is the key, READ_LABELS[i] the table's label,
# $tmp/read.KEY.sql the statement with literal arguments.
READ_KEYS=(); READ_LABELS=()
add_read() {  # add_read KEY LABEL SQL
  READ_KEYS+=("$1"); READ_LABELS+=("$2")
  printf '%s;\n' "$3" >"$tmp/read.$1.sql"
}

list_page() {  # list_page STATE QUEUE KIND AFTER: api_list_jobs with literals (NULL: unfiltered)
  api_statement api_list_jobs | sed "s/[$]1/$1/g; s/[$]2/$2/g; s/[$]3/$3/g; s/[$]4/$4/g; s/[$]5/$PAGE/g"
}

define_reads() {
  local old=$((HIST_FIRST + 1000)) mid=$((HIST_FIRST + HISTORY / 2))
  add_read queues "GET /v1/queues: \`queue_depth\` (jobs.sql)" "$(statement queue_depth)"
  add_read view_depth "\`SELECT * FROM jobqueue.queue_depth\`" "SELECT * FROM jobqueue.queue_depth"
  add_read gauge "job_queue_depth gauge: \`api_due_depth\` (api.sql)" "$(api_statement api_due_depth)"
  add_read keda_default "KEDA: \`jobqueue.scaling_depth(ARRAY['default'])\`" "SELECT jobqueue.scaling_depth(ARRAY['default'])"
  add_read keda_all "KEDA: \`jobqueue.scaling_depth(NULL)\`" "SELECT jobqueue.scaling_depth(NULL)"
  add_read list_all "GET /v1/jobs, $PAGE newest, no filter" "$(list_page NULL NULL NULL NULL)"
  add_read list_dead "GET /v1/jobs?state=dead" "$(list_page "'dead'" NULL NULL NULL)"
  add_read list_cancelled "GET /v1/jobs?state=cancelled" "$(list_page "'cancelled'" NULL NULL NULL)"
  add_read list_reports "GET /v1/jobs?queue=reports" "$(list_page NULL "'reports'" NULL NULL)"
  add_read list_email "GET /v1/jobs?kind=email.send" "$(list_page NULL NULL "'email.send'" NULL)"
  add_read list_nokind "GET /v1/jobs?kind=no.such.kind (matches nothing)" "$(list_page NULL NULL "'no.such.kind'" NULL)"
  add_read list_images_dead "GET /v1/jobs?queue=images&state=dead" "$(list_page "'dead'" "'images'" NULL NULL)"
  add_read list_dead_after "GET /v1/jobs?state=dead, later page (after = id $mid, mid-history)" "$(list_page "'dead'" NULL NULL "$mid")"
  add_read get_old "GET /v1/jobs/{id}: \`api_get_jobs\` of old id $old" "$(api_statement api_get_jobs | sed "s/[$]1/'{$old}'/g")"
  add_read running "\`SELECT * FROM jobqueue.running_jobs\` ($LIVE_RUNNING running)" "SELECT * FROM jobqueue.running_jobs"
  add_read dead_view "\`SELECT * FROM jobqueue.dead_jobs ORDER BY finished_at DESC LIMIT 50\`" \
    "SELECT * FROM jobqueue.dead_jobs ORDER BY finished_at DESC LIMIT 50"
  add_read throughput "GET /v1/throughput (dashboard): \`api_throughput\`, 5 minutes" \
    "$(api_statement api_throughput | sed "s/[$]1/300/g; s/[$]2/NULL/g")"
  add_read dead_errors "GET /v1/errors (dashboard): \`api_dead_errors\`, newest 1,000 dead" \
    "$(api_statement api_dead_errors | sed "s/[$]1/NULL/g; s/[$]2/NULL/g; s/[$]3/1000/g")"
}

# Each read once under EXPLAIN (ANALYZE, BUFFERS), into the log (also the
# warm-up); decides how many transactions a run of it gets.
explain_reads() {
  local i key file ms out
  for i in "${!READ_KEYS[@]}"; do
    key=${READ_KEYS[i]}; file=$tmp/read.$key.sql
    {
      echo
      echo "== EXPLAIN (ANALYZE, BUFFERS): ${READ_LABELS[i]}"
      cat "$file"
    } >>"$LOG"
    {
      # A SQL function's plan is not in EXPLAIN of its caller: auto_explain
      # reports the statement inside scaling_depth() as a NOTICE.
      if grep -q 'scaling_depth(' "$file"; then
        echo "LOAD 'auto_explain';"
        echo "SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;"
        echo "SET auto_explain.log_buffers = on; SET auto_explain.log_nested_statements = on;"
        echo "SET auto_explain.log_level = notice; SET client_min_messages = notice;"
      fi
      printf 'EXPLAIN (ANALYZE, BUFFERS)\n'
      cat "$file"
    } | psql -X -q -v ON_ERROR_STOP=1 >"$tmp/explain.out" 2>&1 || { cat "$tmp/explain.out" >&2; fail "EXPLAIN of $key failed"; }
    cat "$tmp/explain.out" >>"$LOG"
    # EXPLAIN ANALYZE's own timing costs a lot on some machines, so one
    # untimed pgbench transaction says how long the read takes.
    out=$(pgb -M simple -c 1 -j 1 -t 1 -f "$file")
    ms=$(pgb_latency "$out")
    READ_T[$key]=$(awk -v ms="$ms" -v n="$READ_TX" -v slow="$SLOW_READ_MS" \
      'BEGIN { t = n; if (ms > slow) { t = int(2000 / ms); if (t < 3) t = 3; if (t > n) t = n } print t }')
    log "explain: $key: $(sed -n 's/^ *Execution Time: \([0-9.]*\) ms.*/\1/p' "$tmp/explain.out" | tail -1) ms under EXPLAIN ANALYZE, $ms ms in pgbench; runs of ${READ_T[$key]} transactions"
  done
}

time_reads() {
  local r i key out lat line
  for ((r = 1; r <= RUNS; r++)); do
    line=""
    for i in "${!READ_KEYS[@]}"; do
      key=${READ_KEYS[i]}
      out=$(pgb -M simple -c 1 -j 1 -t "${READ_T[$key]}" -f "$tmp/read.$key.sql")
      lat=$(pgb_latency "$out")
      record "read.$key" "$lat"
      line+=" $key=$lat"
    done
    log "reads run $r/$RUNS, ms:$line"
  done
}

sizes() {
  local row
  row=$(sql "SELECT pg_size_pretty(pg_total_relation_size('jobqueue.jobs')), pg_total_relation_size('jobqueue.jobs'),
                    pg_size_pretty(pg_relation_size('jobqueue.jobs')), pg_relation_size('jobqueue.jobs'),
                    pg_size_pretty(pg_indexes_size('jobqueue.jobs')), pg_indexes_size('jobqueue.jobs')")
  IFS='|' read -r SIZE_TOTAL SIZE_TOTAL_B SIZE_HEAP SIZE_HEAP_B SIZE_IDX SIZE_IDX_B <<<"$row"
  {
    echo
    echo "== sizes with the history in place"
    psql -X -v ON_ERROR_STOP=1 -c "SELECT c.relname, pg_size_pretty(pg_relation_size(c.oid)) AS size, pg_relation_size(c.oid) AS bytes
                                   FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid
                                   WHERE i.indrelid = 'jobqueue.jobs'::regclass ORDER BY 3 DESC"
    psql -X -v ON_ERROR_STOP=1 -c "SELECT pg_size_pretty(pg_total_relation_size(reltoastrelid)) AS toast
                                   FROM pg_class WHERE oid = 'jobqueue.jobs'::regclass"
  } >>"$LOG" 2>&1
  log "sizes: total $SIZE_TOTAL, heap $SIZE_HEAP, indexes $SIZE_IDX"
}

prune() {
  local cutoff eligible before after tx out tps xacts longest again
  # prune_finished deletes finished_at < $3 - $1 s: with $1 = 0 and $3 the
  # finished_at of the (PRUNE+1)-th oldest finished job, exactly the PRUNE
  # oldest qualify (the history's finished_at values are all distinct).
  cutoff=$(sql "SELECT finished_at FROM jobqueue.jobs WHERE state IN ('succeeded', 'dead', 'cancelled')
                ORDER BY finished_at OFFSET $PRUNE LIMIT 1")
  eligible=$(sql "SELECT count(*) FROM jobqueue.jobs WHERE state IN ('succeeded', 'dead', 'cancelled') AND finished_at < '$cutoff'")
  ((eligible == PRUNE)) || fail "prune: $eligible jobs eligible, expected $PRUNE"
  statement prune_finished | sed "s/[$]1/0/g; s/[$]2/$PRUNE_BATCH/g; s/[$]3/'$cutoff'/g; \$ s/\$/;/" >"$tmp/prune.sql"
  { echo; echo "== prune script"; cat "$tmp/prune.sql"; } >>"$LOG"
  sql "VACUUM ANALYZE jobqueue.jobs" >/dev/null
  sql "CHECKPOINT" >/dev/null
  before=$(sql "SELECT count(*) FROM jobqueue.jobs")
  # Enough batches for PRUNE rows and one more that deletes nothing.
  tx=$(( (PRUNE + PRUNE_BATCH - 1) / PRUNE_BATCH + 1 ))
  rm -f "$tmp"/prune-log.*
  out=$(pgb -M prepared -c 1 -j 1 -t "$tx" -f "$tmp/prune.sql" -l --log-prefix="$tmp/prune-log")
  tps=$(pgb_tps "$out"); xacts=$(pgb_xacts "$out")
  after=$(sql "SELECT count(*) FROM jobqueue.jobs")
  again=$(psql -X -q -At -v ON_ERROR_STOP=1 -f "$tmp/prune.sql" | wc -l)
  ((before - after == PRUNE && again == 0)) || fail "prune: deleted $((before - after)) of $PRUNE, then $again more"
  # pgbench -l: the third field is the transaction's latency in microseconds.
  longest=$(cat "$tmp"/prune-log.* | awk '$3 > m { m = $3 } END { printf "%.1f", m / 1000 }')
  record prune_rate "$(awk -v n="$PRUNE" -v x="$xacts" -v t="$tps" 'BEGIN { print n / (x / t) }')"
  record prune_max "$longest"
  log "prune: $PRUNE jobs in $xacts batches of $PRUNE_BATCH: $(median_of prune_rate) rows/s, longest batch $longest ms"
}

size_of() {  # size_of KEY: records KEY.total, KEY.heap, KEY.idx (bytes) of jobqueue.jobs
  local row
  row=$(sql "SELECT pg_total_relation_size('jobqueue.jobs'), pg_relation_size('jobqueue.jobs'), pg_indexes_size('jobqueue.jobs')")
  IFS='|' read -r t h i <<<"$row"
  record "$1.total" "$t"; record "$1.heap" "$h"; record "$1.idx" "$i"
}

# churn_rounds PHASE JOBS MODE KEY: JOBS jobs enqueued, drained by
# complete_and_claim_jobs (2 pgbench clients, batches of 100, each on a
# queue of its own, as jobqueue-worker runs it) and pruned by prune_finished
# (retention 0, batches of PRUNE_BATCH) in PHASE's database, in rounds of
# BACKLOG jobs. MODE all prunes every finished job after each round (the
# churn on the backlog alone); MODE steady prunes as many of the oldest
# finished jobs as the round completed, so the history keeps its size, as a
# retention does once it is full. Records KEY_drain_rate (jobs/s) and
# KEY_prune_rate (rows/s); sets ROUNDS_DRAINED.
churn_rounds() {
  local phase=$1 jobs=$2 mode=$3 key=$4 done_jobs=0 n per tx out left round=0 kept drain_s=0 prune_s=0
  ROUNDS_DRAINED=0
  # Each client drains a queue of its own, so its last transaction finds
  # nothing left to claim and no job stays leased.
  write_pgbench_combined_script "$tmp/churn.sql"
  sed -i "s/:queues/ARRAY['churn-' || :client_id]/g" "$tmp/churn.sql"
  statement prune_finished | sed "s/[$]1/0/g; s/[$]2/$PRUNE_BATCH/g; s/[$]3/NULL/g; \$ s/\$/;/" >"$tmp/churn-prune.sql"
  kept=$(in_db "$phase" sql "SELECT coalesce(sum(jobs), 0) FROM jobqueue.finished_counts")
  while ((done_jobs < jobs)); do
    n=$((jobs - done_jobs)); ((n <= BACKLOG)) || n=$BACKLOG
    per=$((n / 2))
    in_db "$phase" sql "INSERT INTO jobqueue.jobs (queue, kind, payload)
                        SELECT 'churn-' || c, 'noop', jsonb_build_object('n', g)
                        FROM generate_series(0, 1) AS c, generate_series(1, $per) AS g" >/dev/null
    tx=$((per / 100 + 2))
    out=$(in_db "$phase" pgb -M prepared -c 2 -j 2 -t "$tx" -f "$tmp/churn.sql" \
      -D batch=100 -D worker=churn -D lease=300 -D "ids={}" -D "toks={}")
    drain_s=$(awk -v a="$drain_s" -v x="$(pgb_xacts "$out")" -v t="$(pgb_tps "$out")" 'BEGIN { print a + x / t }')
    # Through the partial indexes and the counts, not a scan of the history.
    left=$(in_db "$phase" sql "SELECT (SELECT count(*) FROM jobqueue.jobs WHERE state = 'queued' AND queue LIKE 'churn-%')
                                    + (SELECT count(*) FROM jobqueue.jobs WHERE state = 'running' AND queue LIKE 'churn-%')
                                    + (SELECT coalesce(sum(jobs), 0) FROM jobqueue.finished_counts
                                       WHERE state <> 'succeeded' AND queue LIKE 'churn-%')")
    ((left == 0)) || fail "churn: $left jobs not completed after a round"
    ROUNDS_DRAINED=$((ROUNDS_DRAINED + 2 * per))
    if [[ $mode == all ]]; then
      tx=$((2 * per / PRUNE_BATCH + 2))  # and at least one that deletes nothing
    else
      tx=$((2 * per / PRUNE_BATCH))      # exactly what the round completed
    fi
    out=$(in_db "$phase" pgb -M prepared -c 1 -j 1 -t "$tx" -f "$tmp/churn-prune.sql")
    prune_s=$(awk -v a="$prune_s" -v x="$(pgb_xacts "$out")" -v t="$(pgb_tps "$out")" 'BEGIN { print a + x / t }')
    if [[ $mode == all ]]; then
      left=$(in_db "$phase" sql "SELECT count(*) FROM jobqueue.jobs WHERE queue LIKE 'churn-%'")
      ((left == 0)) || fail "churn: $left jobs not pruned after a round"
    else
      left=$(in_db "$phase" sql "SELECT coalesce(sum(jobs), 0) FROM jobqueue.finished_counts")
      ((left == kept)) || fail "churn: $left finished jobs kept after a round, expected $kept"
    fi
    done_jobs=$((done_jobs + n))
    ((++round % 50)) || log "churn ($phase): $ROUNDS_DRAINED jobs enqueued, completed and pruned; jobqueue.jobs $(in_db "$phase" sql "SELECT pg_size_pretty(pg_total_relation_size('jobqueue.jobs'))")"
  done
  # Every round prunes as many jobs as it drained.
  record "${key}_drain_rate" "$(awk -v n="$ROUNDS_DRAINED" -v s="$drain_s" 'BEGIN { print n / s }')"
  record "${key}_prune_rate" "$(awk -v n="$ROUNDS_DRAINED" -v s="$prune_s" 'BEGIN { print n / s }')"
}

# Autovacuum's runs on jobqueue.jobs as the server logged them
# (log_autovacuum_min_duration = 0) from byte FROM of the log on: RUNS,
# of which INDEX_SCANS scanned the indexes, and SECONDS elapsed in all.
autovacuum_since() {
  tail -c +"$(($1 + 1))" "$SERVER_LOG" | awk '
    /automatic vacuum of table "[^"]*jobqueue\.jobs": index scans: [1-9]/ { scans++ }
    /automatic vacuum of table "[^"]*jobqueue\.jobs"/ { on = 1; runs++; next }
    on && /elapsed: / { sub(/.*elapsed: /, ""); sub(/ s.*/, ""); secs += $0; on = 0 }
    END { printf "%d %d %.1f\n", runs, scans, secs }'
}
log_offset() { stat -c %s "$SERVER_LOG"; }

# heap_space KEY: records KEY.live, KEY.dead and KEY.free (pgstattuple's
# live and dead tuple bytes and free bytes of the heap) and KEY.fsm (the
# free bytes the free space map knows of, where new rows will go).
heap_space() {
  local row
  row=$(sql "SELECT s.tuple_len, s.dead_tuple_len, s.free_space, (SELECT sum(avail) FROM pg_freespace('jobqueue.jobs'))
             FROM pgstattuple('jobqueue.jobs') AS s")
  IFS='|' read -r l d f m <<<"$row"
  record "$1.live" "$l"; record "$1.dead" "$d"; record "$1.free" "$f"; record "$1.fsm" "$m"
}

churn() {
  in_db churn "$BUILD_DIR/jobqueue" migrate >&2
  in_db churn fill_backlog
  in_db churn hold_running
  in_db churn sql "VACUUM ANALYZE jobqueue.jobs" >/dev/null
  in_db churn size_of churn_before
  churn_rounds churn "$CHURN" all churn
  in_db churn size_of churn_after
  [[ $(in_db churn sql "SELECT count(*) FROM jobqueue.jobs WHERE state IN ('succeeded', 'dead', 'cancelled')") == 0 &&
     $(in_db churn sql "SELECT coalesce(sum(jobs), 0) FROM jobqueue.finished_counts") == 0 ]] ||
    fail "churn: finished counts differ from the table"
  CHURNED=$ROUNDS_DRAINED
  log "churn: sizes before $(median_of churn_before.total), after $(median_of churn_after.total) bytes"
}

# The same churn on the history: STEADY jobs through the table that keeps
# it, each round pruning as many of the oldest as it completed. What a
# retention looks like once it is full: the history neither grows nor
# shrinks, and every autovacuum of the table has the whole history to look
# at. Sizes before and after, and what autovacuum did meanwhile.
steady() {
  local from row t0
  sql "CREATE EXTENSION IF NOT EXISTS pgstattuple; CREATE EXTENSION IF NOT EXISTS pg_freespacemap" >/dev/null
  [[ -z ${STEADY_SQL:-} ]] || { log "steady: $STEADY_SQL"; sql "$STEADY_SQL" >/dev/null; }
  sql "VACUUM ANALYZE jobqueue.jobs" >/dev/null
  size_of steady_before
  heap_space steady_before
  from=$(log_offset)
  t0=$(now_ms)
  churn_rounds hist "$STEADY" steady steady
  STEADY_WALL_S=$(( ($(now_ms) - t0) / 1000 ))
  size_of steady_after
  heap_space steady_after
  read -r STEADY_VACUUMS STEADY_INDEX_SCANS STEADY_VACUUM_S <<<"$(autovacuum_since "$from")"
  row=$(sql "SELECT (SELECT count(*) FROM jobqueue.jobs WHERE state IN ('succeeded', 'dead', 'cancelled')),
                    (SELECT coalesce(sum(jobs), 0) FROM jobqueue.finished_counts)")
  [[ ${row%%|*} == "${row#*|}" ]] || fail "steady: finished counts differ from the table ($row)"
  STEADY_KEPT=${row%%|*}
  STEADIED=$ROUNDS_DRAINED
  log "steady: $STEADIED jobs on $STEADY_KEPT kept; sizes before $(median_of steady_before.total), after $(median_of steady_after.total) bytes; $STEADY_VACUUMS autovacuums ($STEADY_INDEX_SCANS scanned the indexes), $STEADY_VACUUM_S s"
}

fmt_ms() {
  awk -v v="$1" 'BEGIN { if (v == "n/a") print v; else if (v < 10) printf "%.2f\n", v; else if (v < 1000) printf "%.1f\n", v; else printf "%.0f\n", v }'
}
fmt_bytes() { awk -v b="$1" 'BEGIN { if (b >= 1048576) printf "%.1f MB\n", b / 1048576; else printf "%.0f kB\n", b / 1024 }'; }
# size_rows BEFORE AFTER: the table's total, heap and index rows of a
# before-and-after table (size_of's keys), with the ratio.
size_rows() {
  local what b a
  for what in "total:\`pg_total_relation_size\`" "heap:heap" "idx:indexes"; do
    b=$(median_of "$1.${what%%:*}"); a=$(median_of "$2.${what%%:*}")
    echo "| ${what#*:} | $(fmt_bytes "$b") | $(fmt_bytes "$a") | $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2fx", a / b }') |"
  done
}
fmt_int() { awk -v v="$1" 'BEGIN { if (v == "n/a") print v; else printf "%.0f\n", v }'; }

repro() {
  local cmd="" var
  for var in $KNOBS; do
    if [[ $OVERRIDES == *" $var "* ]]; then cmd+="$var=${!var} "; fi
  done
  echo "\`${cmd}bash bench/scale.sh${QUICK_FLAG}\`"
}

write_row() {  # write_row LABEL KEY rate|ms [goal]: backlog only, with the history, ratio
  local b h ratio verdict="" f=fmt_ms
  b=$(median_of "base.$2"); h=$(median_of "hist.$2")
  [[ $3 == ms ]] || f=fmt_int  # rate or count
  ratio=$(awk -v a="$h" -v b="$b" 'BEGIN { printf "%.2f", a / b }')
  if [[ ${4:-} == goal ]]; then  # rate or ms
    # Within 10%: a rate at least 0.9x, a latency at most 1.1x.
    verdict="within 10% of backlog only: $(awk -v r="$ratio" -v k="$3" \
      'BEGIN { ok = (k == "rate") ? (r >= 0.9) : (r <= 1.1); print ok ? "met" : "**not met**" }')"
  fi
  echo "| $1 | $("$f" "$b") | $("$f" "$h") (${ratio}x) | $verdict |"
}

table() {
  local i key v t
  echo "Reproduce: $(repro)"
  echo
  echo "| figure | backlog only | with the history | goal |"
  echo "|---|---:|---:|---|"
  write_row "enqueue, 2 clients, one job per commit, jobs/s" enqueue rate goal
  write_row "the same, synchronous_commit off (no wait for the WAL flush), jobs/s" enqueue_async rate
  write_row "claim 10 + complete, 1 client, ms per transaction" claim ms goal
  write_row "of which \`claim_jobs\`, ms" claim_stmt ms
  write_row "claim 10 + complete, synchronous_commit off, ms per transaction" claim_async ms
  write_row "heap pages holding the $BACKLOG queued jobs after those runs" backlog_pages count
  echo "| history build: $HISTORY finished jobs + backlog + VACUUM ANALYZE, s | | $(awk -v v="$(median_of build_s)" 'BEGIN { printf "%.1f", v }') | |"
  for i in "${!READ_KEYS[@]}"; do
    key=${READ_KEYS[i]}; v=$(median_of "read.$key"); t=${READ_T[$key]}
    verdict=$(awk -v v="$v" 'BEGIN { print (v < 10) ? "met" : "**not met**" }')
    echo "| ${READ_LABELS[i]}, ms$( ((t == READ_TX)) || echo " ($t transactions per run)") | | $(fmt_ms "$v") | < 10 ms: $verdict |"
  done
  echo "| \`prune_finished\`, batches of $PRUNE_BATCH, $PRUNE oldest jobs, rows/s | | $(fmt_int "$(median_of prune_rate)") | at least as fast as workers complete jobs (rate only) |"
  echo "| longest prune batch, ms | | $(fmt_ms "$(median_of prune_max)") | |"
  echo "| jobqueue.jobs \`pg_total_relation_size\` | | ${SIZE_TOTAL:-n/a} (${SIZE_TOTAL_B:-n/a} bytes) | |"
  echo "| jobqueue.jobs \`pg_relation_size\` (heap) | | ${SIZE_HEAP:-n/a} (${SIZE_HEAP_B:-n/a} bytes) | |"
  echo "| jobqueue.jobs \`pg_indexes_size\` | | ${SIZE_IDX:-n/a} (${SIZE_IDX_B:-n/a} bytes) | |"
  echo "| \`jobqueue migrate\` from schema 3 on this table, s | | $(awk -v v="$(median_of migrate_s)" 'BEGIN { printf "%.1f", v }') | |"
  echo "| longest single enqueue while it ran (one client, a psql per job: $(median_of upgrade_enqueues) jobs), ms | | $(median_of upgrade_enqueue_max) | writes not held off |"
  echo
  if [[ -n ${CHURNED:-} ]]; then
    echo "Churn: $CHURNED jobs enqueued, completed (\`complete_and_claim_jobs\`, 2 clients, batches of 100) and pruned (\`prune_finished\`, retention 0), in rounds of $BACKLOG, on the backlog alone; autovacuum as by default${PG_SETTINGS:+, with $PG_SETTINGS}."
    echo
    echo "| jobqueue.jobs | backlog only, before | after the churn | ratio |"
    echo "|---|---:|---:|---:|"
    size_rows churn_before churn_after
    echo "| drain rate during the churn, jobs/s | | $(fmt_int "$(median_of churn_drain_rate)") | |"
    echo "| prune rate during the churn, rows/s | | $(fmt_int "$(median_of churn_prune_rate)") | |"
  fi
  if [[ -n ${STEADIED:-} ]]; then
    echo
    echo "Steady churn on the history: $STEADIED jobs enqueued, completed and pruned as above, in the table that keeps $STEADY_KEPT finished jobs; each round prunes as many of the oldest as it completed, so the history keeps its size (a full retention); autovacuum as by default${PG_SETTINGS:+, with $PG_SETTINGS}."
    echo
    echo "| jobqueue.jobs | with the history, before | after the steady churn | ratio |"
    echo "|---|---:|---:|---:|"
    size_rows steady_before steady_after
    local what
    for what in "live:heap, live rows (pgstattuple)" "dead:heap, dead rows" "free:heap, free space" "fsm:heap, free space the free space map knows of"; do
      echo "| ${what#*:} | $(fmt_bytes "$(median_of "steady_before.${what%%:*}")") | $(fmt_bytes "$(median_of "steady_after.${what%%:*}")") | |"
    done
    echo "| drain rate, jobs/s | | $(fmt_int "$(median_of steady_drain_rate)") | |"
    echo "| prune rate, rows/s | | $(fmt_int "$(median_of steady_prune_rate)") | |"
    echo "| autovacuums of jobqueue.jobs meanwhile (of which scanned the indexes) | | $STEADY_VACUUMS ($STEADY_INDEX_SCANS) | |"
    echo "| time in those autovacuums, s (of the steady churn's $STEADY_WALL_S s) | | $STEADY_VACUUM_S | |"
  fi
  echo
  [[ ${ONLY:-} != churn ]] || HISTORY=0  # the footer's history: none was built
  echo "History: $HISTORY finished jobs over 6 days + backlog $BACKLOG queued + $LIVE_RUNNING running." \
    "Medians of $RUNS run$( ((RUNS == 1)) || echo s): enqueue $ENQ_TX transactions per client, claim $CLAIM_TX transactions (pgbench -M prepared)," \
    "each in $SLICES slices per table, the two tables (two databases of the one cluster) taking turns;" \
    "reads $READ_TX single-client transactions per run unless shown (-M simple), latency average; prune one run." \
    "$(date -u '+%Y-%m-%d %H:%M UTC'); jobqueue $JQ_REV; PostgreSQL $(sql 'SHOW server_version');" \
    "shared_buffers $(sql 'SHOW shared_buffers'); nproc $(nproc); fsync=on;" \
    "1-min load average $LOAD_BEFORE before the runs, $(cut -d' ' -f1 /proc/loadavg) after." \
    "Plans: $LOG."
}

inside() {
  tmp=$(mktemp -d)  # global: the EXIT trap runs after this function returns
  trap 'rm -rf "$tmp"' EXIT
  : >"$tmp/results"
  declare -gA READ_T=() DB=() FROM=() BACKLOG_AFTER=()
  unset DATABASE_URL  # the CLI uses this cluster's PG* variables
  export PGOPTIONS="-c client_min_messages=warning"
  [[ $(sql "SHOW fsync") == on ]] || fail "fsync is off"
  LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
  SERVER_LOG=$(pg_lsclusters -h | awk '$2 == "regress" { print $7 }')
  [[ -r $SERVER_LOG ]] || fail "cannot read the server's log ($SERVER_LOG)"
  # The history goes into pg_virtualenv's database, the backlog-only table
  # into a second database of the same cluster.
  DB[hist]=${PGDATABASE:-postgres}; DB[base]=scale_base; DB[churn]=scale_churn
  sql "CREATE DATABASE scale_base" >/dev/null
  sql "CREATE DATABASE scale_churn" >/dev/null
  in_db base "$BUILD_DIR/jobqueue" migrate >&2
  write_pgbench_script "$tmp/claim_complete.sql"
  echo "SELECT jobqueue.enqueue('noop', '{}'::jsonb, queue => 'bench-enqueue');" >"$tmp/enqueue.sql"
  { echo "== claim script"; cat "$tmp/claim_complete.sql"; } >>"$LOG"
  # Claim transactions per run: 200, or at most a quarter of queue default's
  # backlog; a multiple of SLICES.
  CLAIM_TX=$((BACKLOG * 80 / 100 / 10 / 4))
  ((CLAIM_TX <= 200)) || CLAIM_TX=200
  CLAIM_TX=$((CLAIM_TX / SLICES * SLICES))
  ((CLAIM_TX >= SLICES)) || fail "BACKLOG=$BACKLOG is too small"

  log "backlog only (database ${DB[base]}): $BACKLOG queued jobs, $LIVE_RUNNING running"
  BACKLOG_AFTER[base]=0
  in_db base fill_backlog
  in_db base hold_running

  if [[ ${ONLY:-} != churn ]]; then
    log "history (database ${DB[hist]}): building $HISTORY finished jobs"
    in_db hist build_history
    in_db hist sizes
  fi
  if [[ -z ${ONLY:-} || ${ONLY:-} == reads ]]; then
    define_reads
    in_db hist explain_reads
    in_db hist time_reads
  fi
  if [[ -z ${ONLY:-} ]]; then
    log "writes: both tables, alternating"
    write_runs
    in_db hist prune
  fi
  if [[ -z ${ONLY:-} || ${ONLY:-} == churn ]]; then
    log "churn (database ${DB[churn]}): $CHURN jobs through enqueue, claim, complete and prune"
    churn
  fi
  if [[ -z ${ONLY:-} || ${ONLY:-} == steady ]]; then
    log "steady churn (database ${DB[hist]}): $STEADY jobs through the table with the history"
    in_db hist steady
  fi

  in_db hist table | tee -a "$LOG"
}

if [[ ${1:-} == --inside ]]; then
  inside
  exit
fi

# ---------------------------------------------------------------------------
# Outside: options, build, cluster.

bench_options scale.sh "$KNOBS" "$@"
if [[ -n $QUICK_FLAG ]]; then
  HISTORY=${HISTORY:-1000000}; PRUNE=${PRUNE:-100000}; CHURN=${CHURN:-500000}; STEADY=${STEADY:-200000}; RUNS=${RUNS:-3}
else
  HISTORY=${HISTORY:-10000000}; PRUNE=${PRUNE:-1000000}; CHURN=${CHURN:-5000000}; STEADY=${STEADY:-2000000}; RUNS=${RUNS:-5}
fi
BACKLOG=${BACKLOG:-10000}
for var in HISTORY BACKLOG PRUNE CHURN STEADY RUNS; do
  [[ ${!var} =~ ^[1-9][0-9]*$ ]] || { echo "scale.sh: $var must be a positive integer" >&2; exit 2; }
done
ONLY=${ONLY:-}
[[ -z $ONLY || $ONLY == reads || $ONLY == churn || $ONLY == steady ]] ||
  { echo "scale.sh: ONLY must be 'reads', 'churn', 'steady' or unset" >&2; exit 2; }
((PRUNE < HISTORY)) || { echo "scale.sh: PRUNE must be below HISTORY" >&2; exit 2; }
((BACKLOG >= 1000)) || { echo "scale.sh: BACKLOG must be at least 1000" >&2; exit 2; }

PGBIN=/usr/lib/postgresql/15/bin
[[ -x $PGBIN/pgbench ]] && export PATH=$PGBIN:$PATH
command -v pg_virtualenv >/dev/null || { echo "scale.sh: needs pg_virtualenv (postgresql-common)" >&2; exit 1; }
command -v pgbench >/dev/null || { echo "scale.sh: needs pgbench" >&2; exit 1; }

mkdir -p "$BUILD_DIR"
: >"$LOG"
# Everything on stderr also goes to the log; fd 4 is the terminal's stderr,
# for log().
exec 4>&2 2> >(tee -a "$LOG" >&2)

if [[ ${NO_BUILD:-0} == 1 ]]; then
  log "NO_BUILD=1: using $BUILD_DIR/jobqueue as it is"
else
  log "building jobqueue (Release) in $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DJOBQUEUE_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target jobqueue >/dev/null
fi
[[ -x $BUILD_DIR/jobqueue ]] || fail "no $BUILD_DIR/jobqueue"
JQ_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ ${NO_BUILD:-0} != 1 ]] || JQ_REV="binaries in $BUILD_DIR as they were (tree at $JQ_REV)"
export ONLY PG_SETTINGS HISTORY BACKLOG PRUNE CHURN STEADY RUNS BUILD_DIR QUICK_FLAG OVERRIDES JQ_REV LOG

# One cluster for the whole run, in a temporary directory even as root (-t);
# fsync on because users run durable. pg_virtualenv removes it when the
# inner command exits, whether it succeeded or not.
# Every autovacuum logged (one line each), for the steady churn's account.
settings=(-o fsync=on -o log_autovacuum_min_duration=0)
for setting in ${PG_SETTINGS:-}; do settings+=(-o "$setting"); done
pg_virtualenv -t "${settings[@]}" bash "$ROOT/bench/scale.sh" --inside
