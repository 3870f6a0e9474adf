#!/usr/bin/env bash
# Queue-core benchmark: jobqueue_core_bench (Queue::Claim + CompleteMany from
# K threads, batch B) against a pgbench "ceiling" that drives the very same
# claim_jobs and complete_jobs SQL, with the same K and B, on the same table
# state. Everything runs in one throwaway pg_virtualenv cluster with fsync on.
#
#   bash bench/core.sh [--quick]
#
# Environment overrides: JOBS (jobs per run, batch >= 10), JOBS_B1 (jobs per
# run at batch 1), RUNS (runs per cell; the median is shown), THREADS and
# BATCHES (space-separated lists), BUILD_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
RESULTS=$ROOT/bench/results/core.md
SQL_FILE=$ROOT/src/core/sql/jobs.sql
QUEUE=bench

# ---------------------------------------------------------------------------
# Inside the cluster (re-invoked by pg_virtualenv with PG* variables set).

# statement, write_pgbench_script, pgbench_ceiling, median, json_field, sql
JOBS_SQL=$SQL_FILE
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

inside() {
  local bench=$BUILD_DIR/bench/jobqueue_core_bench
  tmp=$(mktemp -d)  # global: the EXIT trap runs after this function returns
  trap 'rm -rf "$tmp"' EXIT
  unset DATABASE_URL  # the CLI and the bench then use this cluster's PG* variables
  [[ $(sql "SHOW fsync") == on ]] || { echo "core.sh: fsync is off" >&2; exit 1; }
  "$BUILD_DIR/jobqueue" migrate >&2
  write_pgbench_script "$tmp/claim_complete.sql"

  local rows="" k b r n t line enq proc ceil out succeeded
  for k in $THREADS; do
    for b in $BATCHES; do
      n=$JOBS; ((b == 1)) && n=$JOBS_B1
      # Whole pgbench transactions per client, and n rounded down to match,
      # so both sides process exactly the same jobs.
      t=$((n / (k * b))); n=$((t * k * b))
      ((t >= 1)) || { echo "core.sh: fewer jobs than K*B=$((k * b))" >&2; exit 1; }
      : >"$tmp/enq"; : >"$tmp/proc"; : >"$tmp/ceil"
      # Alternate the two so drift on a shared machine hits both alike.
      for ((r = 1; r <= RUNS; r++)); do
        line=$("$bench" --jobs "$n" --threads "$k" --batch "$b" --queue "$QUEUE")
        json_field enqueue_jobs_per_s "$line" >>"$tmp/enq"
        json_field processed_jobs_per_s "$line" >>"$tmp/proc"

        # Same starting state as core_bench: n queued jobs, vacuumed, checkpointed.
        "$bench" --jobs "$n" --queue "$QUEUE" --mode enqueue
        # Elapsed = transactions / tps, connection setup excluded as in core_bench.
        out=$(pgbench_ceiling "$tmp/claim_complete.sql" "$QUEUE" "$k" "$b" "$t")
        read -r ceil succeeded <<<"$out"
        echo "$ceil" >>"$tmp/ceil"
        echo "core.sh: K=$k B=$b run $r/$RUNS: $line pgbench_jobs_per_s=$(tail -1 "$tmp/ceil") ($succeeded/$n done)" >&2
      done
      enq=$(median <"$tmp/enq"); proc=$(median <"$tmp/proc"); ceil=$(median <"$tmp/ceil")
      rows+=$(awk -v k="$k" -v b="$b" -v e="$enq" -v p="$proc" -v c="$ceil" \
        'BEGIN { printf "| %d | %d | %.0f | %.0f | %.0f | %.0f%% |\n", k, b, e, p, c, 100 * p / c }')$'\n'
    done
  done

  local cmd="" var b1_note=""
  [[ " $BATCHES " == *" 1 "* ]] && b1_note=" ($JOBS_B1 at batch 1)"
  for var in JOBS JOBS_B1 RUNS THREADS BATCHES; do
    if [[ ${OVERRIDES:-} == *" $var "* ]]; then cmd+="$var='${!var}' "; fi
  done
  cmd+="bash bench/core.sh${QUICK_FLAG}"
  {
    echo "| K threads | batch B | enqueue jobs/s | processed jobs/s | pgbench ceiling jobs/s | % of ceiling |"
    echo "|---:|---:|---:|---:|---:|---:|"
    printf '%s' "$rows"
    echo
    echo "Medians of $RUNS runs; $JOBS jobs per run${b1_note}. Reproduce: \`$cmd\`;" \
      "$(date -u '+%Y-%m-%d %H:%M UTC'); PostgreSQL $(sql 'SHOW server_version');" \
      "nproc $(nproc); fsync=on."
  } | if [[ $OVERRIDES == " " && -z $QUICK_FLAG ]]; then tee "$RESULTS"; else cat; fi  # the full default run only
}

if [[ ${1:-} == --inside ]]; then
  inside
  exit
fi

# ---------------------------------------------------------------------------
# Outside: parse options, build, start the cluster.

bench_options core.sh "JOBS JOBS_B1 RUNS THREADS BATCHES" "$@"
if [[ -n $QUICK_FLAG ]]; then
  JOBS=${JOBS:-4000}; THREADS=${THREADS:-"1 4"}; BATCHES=${BATCHES:-"10 100"}
else
  JOBS=${JOBS:-20000}; THREADS=${THREADS:-"1 2 4 8"}; BATCHES=${BATCHES:-"1 10 100"}
fi
# claim_jobs costs grow with the backlog (see README), so batch 1 at 20000
# jobs alone would take most of an hour; it runs on a smaller backlog.
JOBS_B1=${JOBS_B1:-$((JOBS < 4000 ? JOBS : 4000))}
RUNS=${RUNS:-3}
export JOBS JOBS_B1 RUNS THREADS BATCHES BUILD_DIR QUICK_FLAG OVERRIDES

PGBIN=/usr/lib/postgresql/15/bin
[[ -x $PGBIN/pgbench ]] && export PATH=$PGBIN:$PATH
command -v pg_virtualenv >/dev/null || { echo "core.sh: needs pg_virtualenv (postgresql-common)" >&2; exit 1; }
command -v pgbench >/dev/null || { echo "core.sh: needs pgbench" >&2; exit 1; }

mkdir -p "$ROOT/bench/results"
echo "core.sh: building (Release) in $BUILD_DIR" >&2
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DJOBQUEUE_BUILD_TESTS=OFF >/dev/null
make -C "$BUILD_DIR" -j"$(nproc)" --no-print-directory jobqueue jobqueue_core_bench >/dev/null

# One cluster for the whole run; fsync on because users run durable.
pg_virtualenv -o fsync=on bash "$ROOT/bench/core.sh" --inside
