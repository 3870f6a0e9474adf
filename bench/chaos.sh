#!/usr/bin/env bash
# The chaos soak: PostgreSQL, the API, 4 workers and 2 reapers on this
# machine, 100,000 jobs through the API while a storm of every fault kind
# runs for 10 minutes (workers SIGKILLed every 5 s and SIGSTOPped past their
# lease, PostgreSQL crashed every 60 s, the leading reaper killed), then an
# exact account of every job. Prints one table; exits 1 if any check fails.
#
#   bash bench/chaos.sh                                   # the full storm
#   CHAOS_SECONDS=90 JOBS=8000 CRASH_EVERY=30 bash bench/chaos.sh   # CI's version
#
# Knobs (environment): CHAOS_SECONDS (600), JOBS (100000), SEED (1),
# LEASE_SECONDS (5), REAPER_INTERVAL_SECONDS (1), KILL_EVERY (5),
# CRASH_EVERY (60), STOP_EVERY (40), REAPER_KILL_EVERY (90), WORKERS (4),
# WORKER_CONCURRENCY (16), DRAIN_SECONDS (240), KEEP=1 keeps the logs,
# BIN_DIR (prebuilt binaries; else built into BUILD_DIR, default build).
# The table also goes to bench/results/chaos.md unless CHAOS_RESULTS says
# otherwise. Needs Node >= 18 (scripts/setup.sh installs Debian's).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

bash scripts/setup.sh
if [[ -z ${BIN_DIR:-} ]]; then
  BUILD_DIR=${BUILD_DIR:-build}
  BUILD_DIR=$BUILD_DIR bash scripts/build.sh
  BIN_DIR=$BUILD_DIR
  [[ $BIN_DIR == /* ]] || BIN_DIR=$ROOT/$BIN_DIR
fi
for b in jobqueue jobqueue-api jobqueue-worker jobqueue-reaper; do
  [[ -x $BIN_DIR/$b ]] || { echo "chaos: $BIN_DIR/$b is missing" >&2; exit 2; }
done
command -v node >/dev/null || { echo "chaos: needs node (apt-get install nodejs)" >&2; exit 2; }

# A small JPEG for the image jobs, so 3% of 100,000 jobs stay a few MB.
photo=$(mktemp /tmp/jobqueue-chaos-photo-XXXXXX.jpg)
trap 'rm -f "$photo"' EXIT
vipsthumbnail "$ROOT/examples/photo.jpg" --size 320x320 -o "$photo[Q=80]"

knobs=""
for k in CHAOS_SECONDS JOBS SEED LEASE_SECONDS REAPER_INTERVAL_SECONDS KILL_EVERY CRASH_EVERY STOP_EVERY \
         REAPER_KILL_EVERY WORKERS WORKER_CONCURRENCY; do
  [[ -n ${!k:-} ]] && knobs+="$k=${!k} "
done
BIN_DIR=$BIN_DIR PHOTO=$photo CHAOS_COMMAND="${knobs}bash bench/chaos.sh" \
  CHAOS_RESULTS=${CHAOS_RESULTS-$ROOT/bench/results/chaos.md} node "$ROOT/bench/chaos.mjs"
