#!/usr/bin/env bash
# REST API benchmark: wrk against a Release jobqueue-api on one throwaway
# pg_virtualenv cluster with fsync on (PostgreSQL, the API and wrk share the
# machine). Rows: POST /v1/jobs and GET /v1/jobs/{id} at 16 and 64
# connections, and POST /v1/jobs/batch (100 jobs per request); requests/s,
# jobs/s, p50/p99 latency, medians of RUNS runs.
#
#   bash bench/api.sh [--quick]
#
# Environment: RUNS (3; 1 with --quick), DURATION (seconds per run: 10; 3
# with --quick), ROWS (which rows, default "post:16 post:64 get:16 get:64
# batch:16"), BATCH (jobs per batch request, 100), WRK_THREADS (2),
# BUILD_DIR (build-bench-api), NO_BUILD=1 to take the binaries as they are,
# and any API_* variable for the server (e.g. API_DB_POOL_SIZE=16).
# Prints a markdown table; the full default run (no ROWS, no --quick) also
# writes it to bench/results/api.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench-api}
RESULTS=$ROOT/bench/results/api.md

# ---------------------------------------------------------------------------
# Inside the cluster (re-invoked by pg_virtualenv with PG* variables set).

sql() { psql -X -At -v ON_ERROR_STOP=1 -c "$1"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# wrk's latency text ("812.00us", "1.53ms", "2.01s") in milliseconds.
to_ms() {
  awk -v t="$1" 'BEGIN {
    n = t + 0
    if (t ~ /us$/) n /= 1000; else if (t ~ /ms$/) n += 0; else if (t ~ /s$/) n *= 1000
    printf "%.2f", n
  }'
}

inside() {
  tmp=$(mktemp -d)  # global: the EXIT trap runs after this function returns
  api_pid=""
  trap '[ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
  unset DATABASE_URL  # the binaries use this cluster's PG* variables
  [[ $(sql "SHOW fsync") == on ]] || { echo "api.sh: fsync is off" >&2; exit 1; }
  "$BUILD_DIR/jobqueue" migrate >&2

  # Jobs for GET /v1/jobs/{id} to read: ids 1..GET_JOBS.
  local get_jobs=10000
  sql "INSERT INTO jobqueue.jobs (kind, payload) SELECT 'noop', jsonb_build_object('n', g) FROM generate_series(1, $get_jobs) AS g" >/dev/null
  sql "VACUUM ANALYZE jobqueue.jobs" >/dev/null

  # The server as users run it: JSON access log on (to a file), defaults
  # unless API_* says otherwise.
  API_PORT=0 API_BIND_ADDRESS=127.0.0.1 LOG_FORMAT=json LOG_LEVEL=info \
    "$BUILD_DIR/jobqueue-api" 2>"$tmp/api.log" &
  api_pid=$!
  local port="" i
  for i in $(seq 1 100); do
    port=$(sed -n 's/.*"msg":"api listening".*"port":\([0-9]*\).*/\1/p; s/.*"port":\([0-9]*\).*"msg":"api listening".*/\1/p' "$tmp/api.log" | head -1)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$tmp/api.log" >&2; echo "api.sh: jobqueue-api did not start" >&2; exit 1; }
  local url="http://127.0.0.1:$port"
  echo "api.sh: jobqueue-api on $url (pid $api_pid)" >&2

  cat >"$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"kind":"noop","payload":{"order":42,"note":"bench"}}'
LUA
  cat >"$tmp/get.lua" <<LUA
math.randomseed(42)
request = function()
  return wrk.format("GET", "/v1/jobs/" .. math.random(1, $get_jobs))
end
LUA
  {
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/json"'
    printf "wrk.body = '{\"jobs\":["
    for ((i = 1; i <= BATCH; i++)); do
      ((i > 1)) && printf ','
      printf '{"kind":"noop","payload":{"i":%d}}' "$i"
    done
    printf "]}'\n"
  } >"$tmp/batch.lua"

  local rows="" target row kind conns r out rps p50 p99 reqs non2xx before after path jobs_per_req script
  for row in $ROWS; do
    kind=${row%%:*}; conns=${row##*:}
    case $kind in
      post) script=post.lua; path=/v1/jobs; target=/v1/jobs; jobs_per_req=1 ;;
      get) script=get.lua; path=/v1/jobs/{id}; target=/v1/jobs; jobs_per_req=0 ;;
      batch) script=batch.lua; path=/v1/jobs/batch; target=/v1/jobs/batch; jobs_per_req=$BATCH ;;
      *) echo "api.sh: unknown row $row (post|get|batch:CONNECTIONS)" >&2; exit 2 ;;
    esac
    : >"$tmp/rps"; : >"$tmp/p50"; : >"$tmp/p99"
    for ((r = 1; r <= RUNS; r++)); do
      sql "CHECKPOINT" >/dev/null
      before=$(sql "SELECT count(*) FROM jobqueue.jobs")
      out=$(wrk -t"$WRK_THREADS" -c"$conns" -d"${DURATION}s" --latency -s "$tmp/$script" "$url$target" 2>&1) ||
        { echo "$out" >&2; exit 1; }
      after=$(sql "SELECT count(*) FROM jobqueue.jobs")
      rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$out")
      p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
      p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
      reqs=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' <<<"$out")
      non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' <<<"$out")
      if [ -n "$non2xx" ] || grep -q "Socket errors" <<<"$out"; then
        echo "$out" >&2; echo "api.sh: errors during $row (see above)" >&2; exit 1
      fi
      # Every answered submission is a stored job (wrk may have a few in
      # flight when it stops: those were stored but not counted).
      if ((jobs_per_req > 0 && after - before < reqs * jobs_per_req)); then
        echo "api.sh: $row stored $((after - before)) jobs for $reqs answered requests" >&2; exit 1
      fi
      echo "$rps" >>"$tmp/rps"; echo "$p50" >>"$tmp/p50"; echo "$p99" >>"$tmp/p99"
      echo "api.sh: $row run $r/$RUNS: $rps req/s, p50 ${p50} ms, p99 ${p99} ms, $reqs requests, jobs $before -> $after" >&2
    done
    rps=$(median <"$tmp/rps"); p50=$(median <"$tmp/p50"); p99=$(median <"$tmp/p99")
    local method=POST; [[ $kind == get ]] && method=GET
    local jobs="—"; ((jobs_per_req > 0)) && jobs=$(awk -v r="$rps" -v b="$jobs_per_req" 'BEGIN { printf "%.0f", r * b }')
    local label="$method $path"; [[ $kind == batch ]] && label+=" ($BATCH jobs)"
    local cmd="ROWS='$row'"
    [[ ${OVERRIDES:-} == *" RUNS "* ]] && cmd+=" RUNS=$RUNS"
    [[ ${OVERRIDES:-} == *" DURATION "* ]] && cmd+=" DURATION=$DURATION"
    [[ $kind == batch ]] && cmd+=" BATCH=$BATCH"
    rows+=$(printf '| %s | %s | %.0f | %s | %s | %s | `%s bash bench/api.sh` |' \
      "$label" "$conns" "$rps" "$jobs" "$p50" "$p99" "$cmd")$'\n'
  done

  kill "$api_pid"; wait "$api_pid" || true; api_pid=""
  local commit; commit=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
  {
    echo "| route | connections | requests/s | jobs/s | p50 ms | p99 ms | reproduce |"
    echo "|---|---:|---:|---:|---:|---:|---|"
    printf '%s' "$rows"
    echo
    echo "Medians of $RUNS runs of ${DURATION} s (\`wrk -t$WRK_THREADS -c<connections> --latency\`, keep-alive);" \
      "jobqueue-api defaults (API_THREADS=${API_THREADS:-2}, API_DB_POOL_SIZE=${API_DB_POOL_SIZE:-8}, JSON access log on)," \
      "PostgreSQL $(sql 'SHOW server_version') with fsync=on, all on one machine (nproc $(nproc));" \
      "$(date -u '+%Y-%m-%d %H:%M UTC'), jobqueue $commit; load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)."
  } | if [[ -n ${FULL_TABLE:-} ]]; then tee "$RESULTS"; else cat; fi
}

if [[ ${1:-} == --inside ]]; then
  inside
  exit
fi

# ---------------------------------------------------------------------------
# Outside: install wrk if missing, build, start the cluster.

QUICK=""
case ${1:-} in
  "") ;;
  --quick) QUICK=1 ;;
  *) echo "usage: bash bench/api.sh [--quick]" >&2; exit 2 ;;
esac
OVERRIDES=" "
for var in RUNS DURATION; do
  if [[ -n ${!var+x} ]]; then OVERRIDES+="$var "; fi
done
if [[ -n $QUICK ]]; then
  RUNS=${RUNS:-1}; DURATION=${DURATION:-3}
else
  RUNS=${RUNS:-3}; DURATION=${DURATION:-10}
fi
# Only the full default table is written to bench/results/api.md: a row
# reproduced alone (ROWS=...) is printed, not recorded.
FULL_TABLE=""; [[ -z ${ROWS+x} && -z $QUICK ]] && FULL_TABLE=1
ROWS=${ROWS:-"post:16 post:64 get:16 get:64 batch:16"}
BATCH=${BATCH:-100}
WRK_THREADS=${WRK_THREADS:-2}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
export RUNS DURATION ROWS BATCH WRK_THREADS BUILD_DIR OVERRIDES LOAD_BEFORE FULL_TABLE

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v pg_virtualenv >/dev/null || missing+=(postgresql postgresql-common)
if ((${#missing[@]})); then
  echo "api.sh: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$ROOT/bench/results"
if [[ -z ${NO_BUILD:-} ]]; then
  bash "$ROOT/scripts/setup.sh"
  echo "api.sh: building (Release) in $BUILD_DIR" >&2
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DJOBQUEUE_BUILD_TESTS=OFF >/dev/null
  make -C "$BUILD_DIR" -j"$(nproc)" --no-print-directory jobqueue jobqueue-api >/dev/null
fi

# One cluster for the whole run, in a temporary directory even as root (-t),
# so that it never collides with another pg_virtualenv; fsync on because
# users run durable.
pg_virtualenv -t -o fsync=on bash "$ROOT/bench/api.sh" --inside
