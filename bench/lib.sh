# Shell functions shared by the bench/*.sh scripts (sourced, not run). The
# SQL ones expect PG* variables of the cluster (pg_virtualenv sets them).

JOBS_SQL=${JOBS_SQL:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/src/core/sql/jobs.sql}

# Text of statement `-- name: $1` in jobs.sql: comment-only and blank lines
# dropped, trailing semicolon removed.
statement() {
  awk -v want="-- name: $1" '
    /^-- name: / { on = ($0 == want); next }
    on && !/^[ \t]*--/ && NF { print }
  ' "$JOBS_SQL" | sed '$ s/;[ \t]*$//'
}

# One pgbench transaction = one claim + one complete, like one loop of a
# Queue worker. pgbench cannot pass rows between commands, so the claim's rows
# are folded into two array texts and \gset into :ids and :toks. The claim is
# a data-modifying WITH, which Postgres only allows at the top level (it
# cannot be wrapped as a subquery), so its final SELECT becomes one more CTE
# and the aggregate goes on top. $5 (now) and $3 (results) are NULL, as the
# Queue passes them.
write_pgbench_script() {
  local claim complete
  claim=$(statement claim_jobs)
  complete=$(statement complete_jobs)
  [[ $claim == WITH* && -n $complete ]] || { echo "bench: unexpected claim_jobs/complete_jobs text in $JOBS_SQL" >&2; exit 1; }
  {
    printf '%s\n' "$claim" | awk '
      { line[NR] = $0; if ($0 ~ /^SELECT/) last = NR }
      END {
        if (!last) exit 1
        for (i = 1; i < last; i++) print line[i]
        print ", claim_rows AS ("
        for (i = last; i <= NR; i++) print line[i]
        print ")"
        print "SELECT coalesce(array_agg(id), (ARRAY[])::bigint[])::text AS ids,"
        print "       coalesce(array_agg(lease_token), (ARRAY[])::uuid[])::text AS toks"
        print "FROM claim_rows"
        print "\\gset"
      }' | sed 's/\$1/:queues/g; s/\$2/:batch/g; s/\$3/:worker/g; s/\$4/:lease/g; s/\$5/NULL/g'
    printf '%s;\n' "$complete" | sed "s/\\\$1/:ids/g; s/\\\$2/:toks/g; s/\\\$3/NULL/g; s/\\\$4/${KEEP_SUCCEEDED:-true}/g"
  } >"$1"
}

# KEEP_SUCCEEDED=false makes both scripts delete completed jobs (the
# statements' keep parameter, JOB_RETENTION_HOURS=0) instead of keeping them.

# One pgbench transaction = complete_and_claim_jobs: hand in the jobs the
# previous transaction of this client claimed (:ids, :toks; start with -D
# ids={} -D toks={}) and claim the next :batch, in one statement, as
# jobqueue-worker does. The claimed rows are folded into :ids and :toks the
# same way as above. $3 (results) is NULL.
write_pgbench_combined_script() {
  local both
  both=$(statement complete_and_claim_jobs)
  [[ $both == WITH* ]] || { echo "bench: unexpected complete_and_claim_jobs text in $JOBS_SQL" >&2; exit 1; }
  printf '%s\n' "$both" | awk '
    { line[NR] = $0; if ($0 ~ /^SELECT false AS completed/) last = NR }
    END {
      if (!last) exit 1
      for (i = 1; i < last; i++) print line[i]
      print ", result_rows AS ("
      for (i = last; i <= NR; i++) print line[i]
      print ")"
      print "SELECT coalesce(array_agg(id) FILTER (WHERE NOT completed), (ARRAY[])::bigint[])::text AS ids,"
      print "       coalesce(array_agg(lease_token) FILTER (WHERE NOT completed), (ARRAY[])::uuid[])::text AS toks"
      print "FROM result_rows"
      print "\\gset"
    }' | sed 's/\$1/:ids/g; s/\$2/:toks/g; s/\$3/NULL/g; s/\$4/:batch/g; s/\$5/:queues/g; s/\$6/:worker/g; s/\$7/:lease/g' | sed "s/\\\$8/${KEEP_SUCCEEDED:-true}/g" >"$1"
}

# pgbench_ceiling SCRIPT QUEUE K B T: K clients run T transactions of SCRIPT
# (claim B + complete) each on queue QUEUE, whose jobs are already enqueued.
# Prints "JOBS_PER_S SUCCEEDED": jobs succeeded divided by pgbench's elapsed
# time without connection setup (transactions / tps). Fails if a job is left
# running, unless ALLOW_RUNNING (6th argument) is 1: the one-statement script
# leaves a client's last claim uncompleted when the other client finished
# first; only succeeded jobs count.
pgbench_ceiling() {
  local script=$1 queue=$2 k=$3 b=$4 t=$5 allow_running=${6:-0} out tps xacts succeeded left
  out=$(pgbench -n -M prepared -c "$k" -j "$k" -t "$t" -f "$script" \
    -D "queues={$queue}" -D "batch=$b" -D worker=pgbench -D lease=300 -D "ids={}" -D "toks={}" 2>&1) ||
    { echo "$out" >&2; exit 1; }
  tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' <<<"$out")
  xacts=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
  succeeded=$(sql "SELECT count(*) FROM jobqueue.jobs WHERE queue = '$queue' AND state = 'succeeded'")
  left=$(sql "SELECT count(*) FROM jobqueue.jobs WHERE queue = '$queue' AND state = 'running'")
  ((left == 0 || allow_running)) || { echo "bench: pgbench left $left jobs running" >&2; exit 1; }
  awk -v d="$succeeded" -v x="$xacts" -v tps="$tps" 'BEGIN { printf "%.1f %d\n", d / (x / tps), d }'
}

median() {  # numbers on stdin -> median
  sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

json_field() {  # json_field NAME JSON_LINE
  sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$2"
}

sql() { psql -X -At -v ON_ERROR_STOP=1 -c "$1"; }

# CPU ticks (utime + stime) the PostgreSQL server has used so far: the
# postmaster, its live children, and (cutime + cstime of the postmaster)
# every child that has exited and been reaped. Needs PG_DATA_DIR (the
# cluster's `SHOW data_directory`).
server_ticks() {
  local pm pids
  pm=$(head -1 "$PG_DATA_DIR/postmaster.pid")
  pids=$(ps -o pid= --ppid "$pm" | tr -d ' ' | tr '\n' ' ')
  {
    sed 's/^.*) //' "/proc/$pm/stat" | awk '{ print $12 + $13 + $14 + $15 }'
    # shellcheck disable=SC2086 # one pid per word
    process_ticks $pids
  } | awk '{ t += $1 } END { print t + 0 }'
}

# CPU ticks (utime + stime) of the live processes PID...; one that has
# already exited counts 0.
process_ticks() {
  local p
  for p in "$@"; do sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }'; done |
    awk '{ t += $1 } END { print t + 0 }'
}

# bench_options SCRIPT "KNOB ..." ARGS...: the options every benchmark takes.
# Sets QUICK_FLAG (" --quick" or empty) and OVERRIDES (" KNOB KNOB ... ",
# the knobs the user set in the environment, for the reproduce line); any
# other argument prints the usage and exits 2.
bench_options() {
  local script=$1 knobs=$2 var
  shift 2
  QUICK_FLAG=""
  case ${1:-} in
    "") ;;
    --quick) QUICK_FLAG=" --quick" ;;
    *) echo "usage: bash bench/$script [--quick]" >&2; exit 2 ;;
  esac
  OVERRIDES=" "
  for var in $knobs; do
    if [[ -n ${!var+x} ]]; then OVERRIDES+="$var "; fi
  done
}
