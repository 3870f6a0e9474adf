#!/usr/bin/env bash
# What migrations/0002_job_images.sql (jobqueue.job_blobs, job_id REFERENCES
# jobqueue.jobs ON DELETE CASCADE) costs jobs that have no image, in counts
# that do not depend on how busy the machine is: WAL bytes and PostgreSQL
# server CPU per job, buffers touched, and the RI trigger lines of EXPLAIN.
#
#   OLD_BUILD_DIR=/path/old NEW_BUILD_DIR=/path/new bash bench/fk_cost.sh
#
# Each *_BUILD_DIR holds a Release `jobqueue` (migrate) and optionally
# `jobqueue-worker`. Three schemas, each made fresh before every measurement
# (DROP SCHEMA jobqueue CASCADE + migrate):
#   old  = OLD_BUILD_DIR's migrate (0001 only)
#   fk   = NEW_BUILD_DIR's migrate (0001 + 0002, as the working tree)
#   nofk = as fk, then the job_blobs -> jobs foreign key dropped
# Measurements, RUNS times each, schemas alternating within a run:
#   1. pgbench, K=2 clients, batches of B=100, on N queued no-op jobs: the
#      worker's one statement (complete_and_claim_jobs) and claim_jobs +
#      complete_jobs (bench/lib.sh's scripts, as bench/workers.sh). Per job:
#      WAL bytes (pg_current_wal_lsn), server CPU (utime+stime of the
#      postmaster and all its children, exited ones included via cutime), and
#      jobs/s (noisy).
#   2. EXPLAIN (ANALYZE, BUFFERS, WAL) of complete_jobs on a claimed batch of
#      100: does an RI trigger fire on UPDATE?
#   3. EXPLAIN (ANALYZE, BUFFERS, WAL) of prune_finished over PRUNE_N
#      finished jobs (none with a blob): time, trigger time and calls. For
#      nofk also the prune that deletes the blobs itself (one set-based
#      DELETE in the same statement) instead of the cascade.
#   4. (if both dirs have jobqueue-worker) CPU of the jobqueue-worker
#      process: its start-up, then per job (W1 settings, one process, N jobs).
# Environment: ONLY_WORKER=1 (measurement 4 only), N (50000), RUNS (3), PRUNE_N (10000), B (100), K (2),
# JQ_CONCURRENCY (200), JQ_BATCH (100). The cluster: pg_virtualenv -t
# -o fsync=on -o autovacuum=off (autovacuum off: its work would land in the
# CPU counts at random).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
log() { echo "fk_cost.sh: $*" >&2; }
fail() { log "$*"; exit 1; }

N=${N:-50000}; RUNS=${RUNS:-3}; PRUNE_N=${PRUNE_N:-10000}; B=${B:-100}; K=${K:-2}
JQ_CONCURRENCY=${JQ_CONCURRENCY:-200}; JQ_BATCH=${JQ_BATCH:-100}
export N RUNS PRUNE_N B K JQ_CONCURRENCY JQ_BATCH

if [[ ${1:-} != --inside ]]; then
  [[ -x ${OLD_BUILD_DIR:-}/jobqueue && -x ${NEW_BUILD_DIR:-}/jobqueue ]] ||
    fail "set OLD_BUILD_DIR and NEW_BUILD_DIR to build dirs with a jobqueue binary"
  export OLD_BUILD_DIR NEW_BUILD_DIR
  PGBIN=/usr/lib/postgresql/15/bin
  [[ -x $PGBIN/pgbench ]] && export PATH=$PGBIN:$PATH
  exec pg_virtualenv -t -o fsync=on -o autovacuum=off bash "$ROOT/bench/fk_cost.sh" --inside
fi

# --------------------------------------------------------------------------
unset DATABASE_URL
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[[ $(sql "SHOW fsync") == on ]] || fail "fsync is off"
TICK=$(getconf CLK_TCK)
PGDATA_DIR=$(sql "SHOW data_directory")
RES=$tmp/results; : >"$RES"
VARIANTS=(old fk nofk)

fresh() {  # fresh VARIANT
  sql "DROP SCHEMA IF EXISTS jobqueue CASCADE" >/dev/null 2>&1
  case $1 in
    old) "$OLD_BUILD_DIR/jobqueue" migrate >/dev/null ;;
    fk) "$NEW_BUILD_DIR/jobqueue" migrate >/dev/null ;;
    nofk) "$NEW_BUILD_DIR/jobqueue" migrate >/dev/null
          sql "ALTER TABLE jobqueue.job_blobs DROP CONSTRAINT job_blobs_job_id_fkey" >/dev/null ;;
  esac
  local has; has=$(sql "SELECT to_regclass('jobqueue.job_blobs') IS NOT NULL")
  [[ $1 == old && $has == f || $1 != old && $has == t ]] || fail "$1: unexpected schema (job_blobs present: $has)"
}
fill() { sql "INSERT INTO jobqueue.jobs (queue, kind, payload) SELECT 'default', 'noop', '{}'::jsonb FROM generate_series(1, $1)" >/dev/null; }
settle() { sql "VACUUM ANALYZE" >/dev/null; sql "CHECKPOINT" >/dev/null; }
record() { echo "$1|$2|$3" >>"$RES"; }

# CPU ticks of the whole server: the postmaster and every child, with the
# children that already exited (cutime/cstime of their parent).
server_ticks() {
  local pm p; pm=$(head -1 "$PGDATA_DIR/postmaster.pid")
  { echo "$pm"; ps -o pid= --ppid "$pm"; } | while read -r p; do
    awk '{ print $14 + $15 + $16 + $17 }' "/proc/$p/stat" 2>/dev/null || true
  done | awk '{ s += $1 } END { print s + 0 }'
}
lsn() { sql "SELECT pg_current_wal_lsn()"; }

write_pgbench_script "$tmp/claim_complete.sql"
write_pgbench_combined_script "$tmp/complete_and_claim.sql"

pgbench_measure() {  # pgbench_measure VARIANT SCRIPTNAME
  local v=$1 s=$2 t=$((N / (K * B))) extra=0 allow=0 out jps done l0 l1 c0 c1 wal cpu
  [[ $s == complete_and_claim ]] && { extra=1; allow=1; }
  fresh "$v"; fill "$N"; settle
  sleep 0.3
  l0=$(lsn); c0=$(server_ticks)
  out=$(pgbench_ceiling "$tmp/$s.sql" default "$K" "$B" "$((t + extra))" "$allow")
  sleep 0.3
  c1=$(server_ticks); l1=$(lsn)
  read -r jps done <<<"$out"
  wal=$(sql "SELECT pg_wal_lsn_diff('$l1', '$l0') / $done")
  cpu=$(awk -v a="$c0" -v b="$c1" -v t="$TICK" -v d="$done" 'BEGIN { printf "%.2f", (b - a) / t / d * 1e6 }')
  record "$v" "$s.jps" "$jps"; record "$v" "$s.wal" "$wal"; record "$v" "$s.cpu_us" "$cpu"
  log "$v $s: $done jobs, $jps jobs/s, $(printf %.1f "$wal") WAL bytes/job, $cpu us server CPU/job"
}

# EXPLAIN of complete_jobs on one claimed batch of B.
explain_complete() {  # explain_complete VARIANT
  local v=$1 q
  fresh "$v"; fill 10000; settle
  q=$(statement complete_jobs | sed "s/\\\$1/:'ids'/g; s/\\\$2/:'toks'/g; s/\\\$3/NULL/g; s/\\\$4/true/g")
  psql -X -v ON_ERROR_STOP=1 -q <<EOF >"$tmp/explain_complete.$v"
WITH c AS (
  UPDATE jobqueue.jobs SET state = 'running', attempts = attempts + 1, lease_owner = 'x',
    lease_token = gen_random_uuid(), lease_expires_at = now() + interval '5 min', started_at = now()
  WHERE id IN (SELECT id FROM jobqueue.jobs WHERE state = 'queued' ORDER BY id LIMIT $B)
  RETURNING id, lease_token)
SELECT array_agg(id)::text AS ids, array_agg(lease_token)::text AS toks FROM c
\gset
EXPLAIN (ANALYZE, BUFFERS, WAL, COSTS OFF) $q;
EOF
  log "$v: EXPLAIN complete_jobs (batch $B): $(grep -c '^ *Trigger' "$tmp/explain_complete.$v") trigger lines, $(grep -E 'Execution Time' "$tmp/explain_complete.$v" | sed 's/^ *//')"
}

# EXPLAIN of prune_finished over PRUNE_N finished jobs; STMT prune or prune_blobs.
explain_prune() {  # explain_prune VARIANT STMT
  local v=$1 s=$2 q f=$tmp/explain_prune.$1.$2 ms trig calls hit
  fresh "$v"
  sql "INSERT INTO jobqueue.jobs (queue, kind, payload, state, attempts, started_at, finished_at)
       SELECT 'default', 'noop', '{}'::jsonb, 'succeeded', 1, now() - interval '2 days', now() - interval '1 day'
       FROM generate_series(1, $PRUNE_N)" >/dev/null
  settle
  q=$(statement prune_finished)
  if [[ $s == prune_blobs ]]; then
    # The same, with the blobs deleted by the statement instead of by the FK.
    q=$(printf '%s\n' "$q" | sed 's/^DELETE FROM jobqueue.jobs AS j USING old WHERE j.id = old.id$/, gone AS (DELETE FROM jobqueue.jobs AS j USING old WHERE j.id = old.id RETURNING j.id), blobs AS (DELETE FROM jobqueue.job_blobs AS b USING gone WHERE b.job_id = gone.id) SELECT id FROM gone/; /^RETURNING j.id$/d')
    [[ $q == *"blobs AS"* ]] || fail "prune_finished text changed: cannot derive prune_blobs"
  fi
  q=$(printf '%s\n' "$q" | sed 's/\$1/0/g; s/\$2/'"$PRUNE_N"'/g; s/\$3/NULL/g')
  sql "EXPLAIN (ANALYZE, BUFFERS, WAL, COSTS OFF) $q" >"$f"
  [[ $(sql "SELECT count(*) FROM jobqueue.jobs") == 0 ]] || fail "$v $s: not everything pruned"
  ms=$(sed -n 's/^Execution Time: \([0-9.]*\) ms/\1/p' "$f")
  trig=$(awk '/^Trigger / { for (i = 1; i <= NF; i++) if ($i ~ /^time=/) { sub("time=", "", $i); t += $i } } END { print t + 0 }' "$f")
  calls=$(awk '/^Trigger / { for (i = 1; i <= NF; i++) if ($i ~ /^calls=/) { sub("calls=", "", $i); c += $i } } END { print c + 0 }' "$f")
  hit=$(awk '/Buffers:/ && !seen { seen = 1; for (i = 1; i <= NF; i++) if ($i ~ /^hit=/) { sub("hit=", "", $i); print $i } }' "$f")
  record "$v" "$s.ms" "$ms"; record "$v" "$s.trig_ms" "$trig"; record "$v" "$s.trig_calls" "$calls"; record "$v" "$s.hit" "${hit:-0}"
  log "$v $s of $PRUNE_N: $ms ms (RI trigger $trig ms, $calls calls), top-node shared hit ${hit:-0}"
}

# CPU of the jobqueue-worker process over N jobs (W1 settings, one process),
# start-up excluded: the worker starts on an empty queue and its CPU is read
# once it idles; then N jobs are inserted in one transaction and drained.
# The start-up CPU (exec to idle) is recorded too.
worker_cpu() {  # worker_cpu VARIANT BUILD_DIR
  local v=$1 dir=$2 pid t0 s0 ticks ms left i
  fresh "$v"; settle
  WORKER_CONCURRENCY=$JQ_CONCURRENCY WORKER_BATCH_SIZE=$JQ_BATCH WORKER_METRICS_PORT=0 \
    HOSTNAME=fkcost LOG_LEVEL=warn "$dir/jobqueue-worker" >>"$tmp/worker.log" 2>&1 &
  pid=$!
  for ((i = 0; i < 600; i++)); do  # connected: its sessions are in pg_stat_activity
    (($(sql "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()") >= 1)) && break
    sleep 0.05
  done
  sleep 2
  s0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
  t0=$(date +%s%N)
  fill "$N"
  for ((i = 0; i < 6000; i++)); do
    left=$(sql "SELECT count(*) FROM jobqueue.jobs WHERE state IN ('queued', 'running')")
    ((left == 0)) && break
    sleep 0.05
  done
  ((left == 0)) || { kill -TERM "$pid"; fail "$v worker: $left jobs left"; }
  ms=$((($(date +%s%N) - t0) / 1000000))
  ticks=$(awk -v s="$s0" '{ print $14 + $15 - s }' "/proc/$pid/stat")
  kill -TERM "$pid"; wait "$pid" || fail "$v worker exited with $?"
  [[ $(sql "SELECT count(*) FROM jobqueue.jobs WHERE state = 'succeeded' AND attempts = 1") == "$N" ]] || fail "$v worker: not $N succeeded once"
  record "$v" worker.startup_cpu_ms "$(awk -v t="$s0" -v k="$TICK" 'BEGIN { printf "%.0f", t / k * 1000 }')"
  record "$v" worker.cpu_us_per_job "$(awk -v t="$ticks" -v k="$TICK" -v n="$N" 'BEGIN { printf "%.2f", t / k / n * 1e6 }')"
  log "$v worker: start-up CPU $(awk -v t="$s0" -v k="$TICK" 'BEGIN { printf "%.2f", t / k }') s; $N jobs: wall ${ms} ms (fill included), worker CPU $(awk -v t="$ticks" -v k="$TICK" 'BEGIN { printf "%.2f", t / k }') s"
}

WORKER=0
[[ -x $OLD_BUILD_DIR/jobqueue-worker && -x $NEW_BUILD_DIR/jobqueue-worker ]] && WORKER=1

ONLY_WORKER=${ONLY_WORKER:-0}
((ONLY_WORKER)) || for v in "${VARIANTS[@]}"; do explain_complete "$v"; done
log "load before: $(cut -d' ' -f1 /proc/loadavg)"
for ((r = 1; r <= RUNS; r++)); do
  order=()
  for ((i = 0; i < ${#VARIANTS[@]}; i++)); do order+=("${VARIANTS[(i + r - 1) % ${#VARIANTS[@]}]}"); done
  ((ONLY_WORKER)) || for v in "${order[@]}"; do
    pgbench_measure "$v" complete_and_claim
    pgbench_measure "$v" claim_complete
    explain_prune "$v" prune
    [[ $v == nofk ]] && explain_prune "$v" prune_blobs
  done
  if ((WORKER)); then
    if ((r % 2)); then worker_cpu old "$OLD_BUILD_DIR"; worker_cpu fk "$NEW_BUILD_DIR"
    else worker_cpu fk "$NEW_BUILD_DIR"; worker_cpu old "$OLD_BUILD_DIR"; fi
  fi
  log "run $r/$RUNS done"
done
log "load after: $(cut -d' ' -f1 /proc/loadavg)"

med() {  # med VARIANT KEY
  local vals; vals=$(awk -F'|' -v s="$1" -v k="$2" '$1 == s && $2 == k { print $3 }' "$RES")
  if [[ -z $vals ]]; then echo "n/a"; else median <<<"$vals"; fi
}
f() { [[ $1 == n/a ]] && echo n/a || awk -v v="$1" -v d="$2" 'BEGIN { printf "%.*f", d, v }'; }

((ONLY_WORKER)) || echo "## EXPLAIN (ANALYZE, BUFFERS, WAL) complete_jobs, one batch of $B claimed jobs"
((ONLY_WORKER)) || for v in "${VARIANTS[@]}"; do echo; echo "### $v"; echo '```'; cat "$tmp/explain_complete.$v"; echo '```'; done
echo
echo "## Medians of $RUNS runs (N=$N, K=$K, B=$B, PRUNE_N=$PRUNE_N; fsync on, autovacuum off)"
echo
echo "| figure | old (0001) | fk (0001+0002) | nofk (0002 without FK) | fk/old |"
echo "|---|---:|---:|---:|---:|"
for key in complete_and_claim.wal:1 complete_and_claim.cpu_us:2 complete_and_claim.jps:0 \
  claim_complete.wal:1 claim_complete.cpu_us:2 claim_complete.jps:0 \
  prune.ms:1 prune.trig_ms:1 prune.trig_calls:0 prune.hit:0 prune_blobs.ms:1 prune_blobs.hit:0 worker.startup_cpu_ms:0 worker.cpu_us_per_job:2; do
  k=${key%:*}; d=${key#*:}
  o=$(med old "$k"); a=$(med fk "$k"); c=$(med nofk "$k")
  ratio=n/a
  [[ $o != n/a && $a != n/a ]] && ratio=$(awk -v a="$a" -v b="$o" 'BEGIN { if (b == 0) print (a == 0 ? "1.00" : "inf"); else printf "%.2f", a / b }')
  echo "| $k | $(f "$o" "$d") | $(f "$a" "$d") | $(f "$c" "$d") | $ratio |"
done
echo
echo "Raw: $(tr '\n' ' ' <"$RES")"
echo
echo "One prune EXPLAIN per statement (last run):"
((ONLY_WORKER)) || for x in old.prune fk.prune nofk.prune nofk.prune_blobs; do echo; echo "### $x"; echo '```'; cat "$tmp/explain_prune.$x"; echo '```'; done
