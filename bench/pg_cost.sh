#!/usr/bin/env bash
# Where PostgreSQL's CPU goes when jobqueue-worker drains no-op jobs: the
# whole server's CPU per job beside the worker's own sessions', the
# worker's statement in pg_stat_statements (execution + planning), and the
# foreign key's cascade, for the shipped schema and for the schema-6 foreign
# key put back in place of schema 7's triggers (what the previous release
# ran), with history kept and without. Design input for the scale issue;
# see bench/README.md, "The foreign key, a row at a time".
#
#   bash bench/pg_cost.sh [--quick]
#
# Each run, for each (schema, retention) in turn (the order rotates between
# runs): a fresh schema (DROP SCHEMA jobqueue CASCADE + jobqueue migrate,
# then the variant), N no-op jobs inserted, VACUUM ANALYZE and CHECKPOINT
# (untimed), statistics reset, then one jobqueue-worker process (W1
# settings: concurrency 200, WORKER_BATCH_SIZE=BATCH, WORKER_CONNECTIONS
# sessions) drains them. Drained = the worker's job_completed_total reaches
# N, read over HTTP from its metrics port, so nothing polls the database.
# Per job: CPU (utime + stime) of every server process, exited ones through
# the postmaster's cutime + cstime; of the worker's sessions alone
# (PGAPPNAME); complete_and_claim_jobs' total execution + planning time in
# pg_stat_statements; the cascade's per-row DELETE calls; WAL bytes; the
# worker process's CPU. Medians of RUNS runs.
# Then pruning, for each schema: PRUNE_N finished jobs, VACUUM ANALYZE and
# CHECKPOINT, then pgbench (1 client, -M prepared) runs `prune_finished` of
# jobs.sql (its parameters written in: retention 0, 1,000, now()) in batches of 1,000 until all are gone; the average
# batch in ms and the server's CPU per pruned job.
#
# Knobs: N (100000; 20000 with --quick), PRUNE_N (300000; 50000 with
# --quick), RUNS (3; 1 with --quick), BATCH
# (500), CONNECTIONS (1), SCHEMAS ("fk shipped"), RETENTIONS ("0 168"),
# BUILD_DIR (build-bench-workers, shared with workers.sh), NO_BUILD=1.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench-workers}
KNOBS="N PRUNE_N RUNS BATCH CONNECTIONS SCHEMAS RETENTIONS"
# median, sql, bench_options, statement, server_ticks, process_ticks
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
log() { echo "pg_cost.sh: $*" >&2; }
fail() { log "$*"; exit 1; }

# The foreign key of schema 2, back in place of schema 7's triggers.
FK_SQL="DROP TRIGGER jobs_delete_blobs ON jobqueue.jobs;
DROP TRIGGER jobs_truncate_blobs ON jobqueue.jobs;
DROP TRIGGER job_blobs_check_job ON jobqueue.job_blobs;
ALTER TABLE jobqueue.job_blobs ADD CONSTRAINT job_blobs_job_id_fkey
  FOREIGN KEY (job_id) REFERENCES jobqueue.jobs (id) ON DELETE CASCADE;"


completed() {  # the worker's job_completed_total, summed over its labels
  curl -fsS "http://127.0.0.1:$PORT/metrics" 2>/dev/null |
    awk '/^job_completed_total/ { t += $NF } END { printf "%d\n", t }'
}

one_run() {  # one_run SCHEMA RETENTION RUN
  local schema=$1 retention=$2 run=$3 wal0 t0 s0 pids wpid i secs
  fresh_schema "$schema"
  sql "INSERT INTO jobqueue.jobs (queue, kind, payload) SELECT 'default', 'noop', '{}'::jsonb FROM generate_series(1, $N)" >/dev/null
  sql "VACUUM ANALYZE jobqueue.jobs" >/dev/null
  sql "CHECKPOINT" >/dev/null
  sql "SELECT pg_stat_statements_reset()" >/dev/null
  wal0=$(sql "SELECT pg_current_wal_lsn()")
  s0=$(server_ticks)
  t0=$(date +%s%N)
  PGAPPNAME=jobqueue-worker WORKER_CONCURRENCY=200 WORKER_BATCH_SIZE=$BATCH WORKER_CONNECTIONS=$CONNECTIONS \
    JOB_RETENTION_HOURS=$retention WORKER_METRICS_PORT=$PORT LOG_LEVEL=warn \
    "$BUILD_DIR/jobqueue-worker" >>"$LOG" 2>&1 &
  wpid=$!
  for ((i = 0; i < 12000; i++)); do
    [[ $(completed) -ge $N ]] && break
    kill -0 "$wpid" 2>/dev/null || fail "jobqueue-worker exited (log: $LOG)"
    sleep 0.02
  done
  secs=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { print (b - a) / 1e9 }')
  pids=$(sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'jobqueue-worker'")
  local sessions server worker wal
  # shellcheck disable=SC2086 # one pid per word
  sessions=$(process_ticks $pids)
  server=$(($(server_ticks) - s0))
  worker=$(process_ticks "$wpid")
  wal=$(sql "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal0')")
  kill -TERM "$wpid"
  wait "$wpid" || fail "jobqueue-worker exited with status $? (log: $LOG)"
  [[ $(sql "SELECT count(*) FROM jobqueue.jobs WHERE state IN ('queued', 'running')") == 0 ]] || fail "jobs left unfinished"
  local stmt cascade
  stmt=$(sql "SELECT coalesce(sum(total_exec_time + total_plan_time), 0) FROM pg_stat_statements WHERE query LIKE '%One round trip for a busy worker%'")
  cascade=$(sql "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE 'DELETE FROM ONLY \"jobqueue\".\"job_blobs\"%'")
  # Every statement's share, to the progress output: what else the sessions ran.
  log "run $run: statements by execution + planning time, µs a job: execution + planning (calls):"
  sql "SELECT round((total_exec_time * 1000 / $N)::numeric, 2) || ' + ' || round((total_plan_time * 1000 / $N)::numeric, 2)
              || ' (' || calls || ') ' || left(regexp_replace(query, '\s+', ' ', 'g'), 90)
       FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 8" |
    while read -r line; do log "  $line"; done
  local key="$schema|$retention"
  {
    echo "$key|srv|$(awk -v t="$server" -v hz="$HZ" -v n="$N" 'BEGIN { print t / hz / n * 1e6 }')"
    echo "$key|sess|$(awk -v t="$sessions" -v hz="$HZ" -v n="$N" 'BEGIN { print t / hz / n * 1e6 }')"
    echo "$key|stmt|$(awk -v t="$stmt" -v n="$N" 'BEGIN { print t * 1000 / n }')"
    echo "$key|cascade|$(awk -v c="$cascade" -v n="$N" 'BEGIN { print c / n }')"
    echo "$key|wal|$(awk -v w="$wal" -v n="$N" 'BEGIN { print w / n }')"
    echo "$key|wcpu|$(awk -v t="$worker" -v hz="$HZ" -v n="$N" 'BEGIN { print t / hz / n * 1e6 }')"
    echo "$key|jps|$(awk -v n="$N" -v s="$secs" 'BEGIN { print n / s }')"
  } >>"$RESULTS"
  log "run $run: schema $schema, retention $retention h: ${secs} s, server $server ticks, worker sessions $sessions, statement $stmt ms, cascade calls $cascade, WAL $wal B, worker $worker ticks"
}

prune_run() {  # prune_run SCHEMA RUN
  local schema=$1 run=$2 s0 server out ms
  fresh_schema "$schema"
  sql "INSERT INTO jobqueue.jobs (queue, kind, state, attempts, started_at, finished_at)
       SELECT 'default', 'noop', 'succeeded', 1, now() - interval '2 hours', now() - interval '1 hour' + g * interval '1 ms'
       FROM generate_series(1, $PRUNE_N) AS g" >/dev/null
  sql "VACUUM ANALYZE jobqueue.jobs" >/dev/null
  sql "CHECKPOINT" >/dev/null
  s0=$(server_ticks)
  # $1 retention 0 s, $2 the batch, $3 now(): every inserted job is due.
  out=$(pgbench -n -M prepared -c 1 -t $((PRUNE_N / 1000)) -f "$PRUNE_SQL" 2>&1) || fail "pgbench: $out"
  # pgbench's session has exited: its time reaches the postmaster's cutime
  # only once the postmaster has reaped it.
  sleep 1
  server=$(($(server_ticks) - s0))
  [[ $(sql "SELECT count(*) FROM jobqueue.jobs") == 0 ]] || fail "prune left jobs behind"
  ms=$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' <<<"$out")
  echo "$schema|prune|ms|$ms" >>"$RESULTS"
  echo "$schema|prune|srv|$(awk -v t="$server" -v hz="$HZ" -v n="$PRUNE_N" 'BEGIN { print t / hz / n * 1e6 }')" >>"$RESULTS"
  log "run $run: prune, schema $schema: $ms ms a batch, server $server ticks"
}

fresh_schema() {  # fresh_schema SCHEMA: migrated; for fk, the key back in place of the triggers
  sql "DROP SCHEMA IF EXISTS jobqueue CASCADE" >/dev/null
  "$BUILD_DIR/jobqueue" migrate >/dev/null 2>&1 || fail "jobqueue migrate failed"
  [[ $1 == shipped ]] || psql -X -q -v ON_ERROR_STOP=1 -c "$FK_SQL" >/dev/null
}

figure() {  # figure KEY FIELD DECIMALS
  local v
  v=$(awk -F'|' -v k="$1" -v f="$2" '$1 "|" $2 == k && $3 == f { print $4 }' "$RESULTS" | median)
  printf "%.${3}f" "$v"
}

inside() {
  export PGOPTIONS="-c client_min_messages=warning"
  unset DATABASE_URL
  PG_DATA_DIR=$(sql "SHOW data_directory")
  HZ=$(getconf CLK_TCK)
  PORT=$((20000 + RANDOM % 20000))
  tmp=$(mktemp -d)
  LOG=$tmp/pg_cost.log
  RESULTS=$tmp/results
  trap 'cp "$LOG" "$BUILD_DIR/pg_cost-last.log" 2>/dev/null || true; rm -rf "$tmp"' EXIT
  sql "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
  local combos=() s r run i load_before
  for s in $SCHEMAS; do for r in $RETENTIONS; do combos+=("$s $r"); done; done
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  one_run "${combos[0]% *}" "${combos[0]#* }" warm-up  # not recorded: a cold cache and a new cluster's first WAL
  : >"$RESULTS"
  local schemas
  read -r -a schemas <<<"$SCHEMAS"
  PRUNE_SQL=$tmp/prune.sql
  # shellcheck disable=SC2016 # the $n are SQL parameters, replaced literally
  { statement prune_finished | sed 's/\$1::float8/0::float8/; s/\$2/1000/; s/\$3::timestamptz/NULL::timestamptz/'; echo ";"; } >"$PRUNE_SQL"
  for ((run = 1; run <= RUNS; run++)); do
    for ((i = 0; i < ${#combos[@]}; i++)); do
      local c=${combos[(i + run - 1) % ${#combos[@]}]}
      one_run "${c% *}" "${c#* }" "$run"
    done
    for ((i = 0; i < ${#schemas[@]}; i++)); do prune_run "${schemas[(i + run - 1) % ${#schemas[@]}]}" "$run"; done
  done
  echo "| schema | JOB_RETENTION_HOURS | PostgreSQL CPU µs/job | of which the worker's sessions | complete_and_claim_jobs exec + plan µs/job | cascade DELETEs per job | WAL bytes/job | worker CPU µs/job | jobs/s |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for c in "${combos[@]}"; do
    local key="${c% *}|${c#* }" name
    [[ ${c% *} == shipped ]] && name="shipped (schema 7 triggers)" || name="schema 6 foreign key"
    echo "| $name | ${c#* } | $(figure "$key" srv 1) | $(figure "$key" sess 1) | $(figure "$key" stmt 1) | $(figure "$key" cascade 2) | $(figure "$key" wal 0) | $(figure "$key" wcpu 1) | $(figure "$key" jps 0) |"
  done
  echo
  echo "| schema | \`prune_finished\`, batch of 1,000, ms | PostgreSQL CPU µs per pruned job |"
  echo "|---|---:|---:|"
  for s in "${schemas[@]}"; do
    local name
    [[ $s == shipped ]] && name="shipped (schema 7 triggers)" || name="schema 6 foreign key"
    echo "| $name | $(figure "$s|prune" ms 2) | $(figure "$s|prune" srv 1) |"
  done
  echo
  echo "Reproduce: $(repro_line); $(date -u '+%Y-%m-%d %H:%M UTC'); jobqueue $JQ_REV; PostgreSQL $(sql 'SHOW server_version');" \
    "nproc $(nproc); fsync=on; N=$N, PRUNE_N=$PRUNE_N, batch $BATCH, $CONNECTIONS worker session(s), medians of $RUNS runs;" \
    "1-min load average $load_before before, $(cut -d' ' -f1 /proc/loadavg) after."
}

repro_line() {
  local line="" var
  for var in $OVERRIDES; do line+="$var=${!var} "; done
  echo "\`${line}bash bench/pg_cost.sh$QUICK_FLAG\`"
}

if [[ ${1:-} == --inside ]]; then
  inside
  exit
fi

bench_options pg_cost.sh "$KNOBS" "$@"
if [[ -n $QUICK_FLAG ]]; then N=${N:-20000}; PRUNE_N=${PRUNE_N:-50000}; RUNS=${RUNS:-1}; else N=${N:-100000}; PRUNE_N=${PRUNE_N:-300000}; RUNS=${RUNS:-3}; fi
BATCH=${BATCH:-500}; CONNECTIONS=${CONNECTIONS:-1}
SCHEMAS=${SCHEMAS:-"fk shipped"}; RETENTIONS=${RETENTIONS:-"0 168"}
export N PRUNE_N RUNS BATCH CONNECTIONS SCHEMAS RETENTIONS BUILD_DIR QUICK_FLAG OVERRIDES
PGBIN=/usr/lib/postgresql/15/bin
[[ -x $PGBIN/pgbench ]] && export PATH=$PGBIN:$PATH
command -v pg_virtualenv >/dev/null || fail "needs pg_virtualenv (postgresql-common)"
command -v pgbench >/dev/null || fail "needs pgbench (postgresql-client)"
command -v curl >/dev/null || fail "needs curl (reads the worker's metrics)"
if [[ ${NO_BUILD:-0} == 1 ]]; then
  [[ -x $BUILD_DIR/jobqueue && -x $BUILD_DIR/jobqueue-worker ]] || fail "NO_BUILD=1 but no binaries in $BUILD_DIR"
else
  log "building (Release) in $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DJOBQUEUE_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target jobqueue jobqueue-worker >/dev/null
fi
JQ_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- src CMakeLists.txt migrations 2>/dev/null || JQ_REV+=" with uncommitted changes"
export JQ_REV
pg_virtualenv -o fsync=on -o shared_preload_libraries=pg_stat_statements -o pg_stat_statements.track=all \
  -o pg_stat_statements.track_planning=on bash "$ROOT/bench/pg_cost.sh" --inside
