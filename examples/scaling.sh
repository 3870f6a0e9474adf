#!/usr/bin/env bash
# Seed 003's scaling demonstration: 20 concurrent jobs of 2 s each, run by 1 worker and then by 4 (one job at a time each); prints the wall times and which worker ran each job.
#
#   bash examples/scaling.sh
#
# Seed 003 scales its blur service from 1 pod to 4 and sends 20 requests at
# once; each takes 2 s (the seed's artificial delay, here the `sleep` job
# kind). Expect about 40 s with 1 worker and about 10 s with 4. The workers
# are started by this script beside `jobqueue dev`'s own, on a queue of
# their own, with WORKER_CONCURRENCY=1 as the seed's pods take one request
# at a time, and stopped at the end. Knobs: JOBS (20), JOB_SECONDS (2),
# WORKER_COUNTS ("1 4").
source "$(dirname "$0")/lib.sh"

job_count=${JOBS:-20}
job_seconds=${JOB_SECONDS:-2}
read -r -a counts <<<"${WORKER_COUNTS:-1 4}"
[[ -n ${DATABASE_URL:-} && -x ${JOBQUEUE_BIN_DIR:-}/jobqueue-worker ]] ||
  die "needs DATABASE_URL and JOBQUEUE_BIN_DIR (jobqueue dev's env file sets both) to start its workers"

tmp=$(mktemp -d)
pids=()
stop_workers() {
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
}
trap 'stop_workers; rm -rf "$tmp"' EXIT

now() { date +%s.%N; }
# seconds N: the ideal wall time with N workers, ceil(jobs / N) rounds.
ideal() { awk -v j="$job_count" -v n="$1" -v s="$job_seconds" 'BEGIN { printf "%.1f", int((j + n - 1) / n) * s }'; }

# run_with N: starts N workers on a fresh queue, submits the jobs at once,
# waits for all of them; writes $tmp/N.wall and $tmp/N.workers (one line
# per job, in submission order: the worker that ran it).
run_with() {
  local n=$1 queue="scaling-demo-$$-$1" i
  for ((i = 1; i <= n; i++)); do
    # One job at a time and none fetched ahead: each worker holds at most
    # the job it runs, as each of the seed's pods serves one request.
    DATABASE_URL=$DATABASE_URL WORKER_QUEUES=$queue WORKER_CONCURRENCY=1 WORKER_BATCH_SIZE=1 \
      WORKER_PREFETCH_MAX_WAIT_SECONDS=0 \
      WORKER_POLL_INTERVAL_SECONDS=0.2 WORKER_METRICS_PORT=0 WORKER_ID="demo-$n-$i" LOG_FORMAT=console \
      "$JOBQUEUE_BIN_DIR/jobqueue-worker" >"$tmp/worker-$n-$i.log" 2>&1 &
    pids+=($!)
  done
  for ((i = 1; i <= n; i++)); do  # submit only once every worker listens
    for _ in $(seq 100); do
      grep -q "worker started" "$tmp/worker-$n-$i.log" && break
      sleep 0.1
    done
    grep -q "worker started" "$tmp/worker-$n-$i.log" || die "worker demo-$n-$i did not start: $(cat "$tmp/worker-$n-$i.log")"
  done

  local start body
  start=$(now)
  body=$(jq -cn --arg q "$queue" --argjson s "$job_seconds" '{kind: "sleep", queue: $q, payload: {seconds: $s}}')
  local submitters=()
  for ((i = 1; i <= job_count; i++)); do  # all at once, as the seed's load_test.sh sends them
    api POST /v1/jobs -H 'Content-Type: application/json' --data "$body" | jq -r .id >"$tmp/$n.id.$i" &
    submitters+=($!)
  done
  for pid in "${submitters[@]}"; do wait "$pid" || die "a submission failed"; done
  local deadline=$((SECONDS + 10 * job_count * ${job_seconds%.*} + 60)) listing done_count
  while :; do
    listing=$(api GET "/v1/jobs?queue=$queue&limit=$((job_count + 10))")
    done_count=$(jq '[.jobs[] | select(.state == "succeeded")] | length' <<<"$listing")
    ((done_count == job_count)) && break
    jq -e '[.jobs[] | select(.state == "dead" or .state == "cancelled")] | length == 0' <<<"$listing" >/dev/null ||
      die "a job of the run with $n workers did not succeed: $listing"
    ((SECONDS < deadline)) || die "the run with $n workers did not finish in time: $done_count of $job_count succeeded"
    sleep 0.1
  done
  awk -v a="$(now)" -v b="$start" 'BEGIN { printf "%.1f", a - b }' >"$tmp/$n.wall"
  for ((i = 1; i <= job_count; i++)); do
    jq -r --argjson id "$(cat "$tmp/$n.id.$i")" '.jobs[] | select(.id == $id) | .processed_by' <<<"$listing"
  done >"$tmp/$n.workers"
  stop_workers
}

echo "Seed 003's scaling demonstration: $job_count jobs of ${job_seconds} s submitted at once, one job at a time per worker"
for n in "${counts[@]}"; do
  echo "  running with $n worker(s)..."
  run_with "$n"
done

echo
printf '%-8s %10s %10s   %s\n' workers "wall time" ideal "jobs per worker"
for n in "${counts[@]}"; do
  per_worker=$(sort "$tmp/$n.workers" | uniq -c | awk '{printf "%s%s: %s", sep, $2, $1; sep=", "}')
  printf '%-8s %9ss %9ss   %s\n' "$n" "$(cat "$tmp/$n.wall")" "$(ideal "$n")" "$per_worker"
done
echo
printf '%-5s' job
for n in "${counts[@]}"; do printf '%-14s' "$n worker(s)"; done
echo
for ((i = 1; i <= job_count; i++)); do
  printf '%-5s' "$i"
  for n in "${counts[@]}"; do printf '%-14s' "$(sed -n "${i}p" "$tmp/$n.workers")"; done
  echo
done

# The outcome, checked: every run used exactly as many workers as it had
# (each ran at least one job), and nothing ran elsewhere.
for n in "${counts[@]}"; do
  used=$(sort -u "$tmp/$n.workers" | grep -c .)
  want=$((n < job_count ? n : job_count))
  ((used == want)) || die "the run with $n workers used $used of them: $(sort "$tmp/$n.workers" | uniq -c | tr '\n' ' ')"
  grep -qv "^demo-$n-" "$tmp/$n.workers" && die "a job of the run with $n workers ran on another worker"
done
exit 0
