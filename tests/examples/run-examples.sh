#!/usr/bin/env bash
# Every script in examples/ against a real `jobqueue dev` (its own throwaway
# PostgreSQL), as a newcomer runs them; each checks its own outcome and
# exits non-zero otherwise. The scaling demo runs with short jobs (8 jobs of
# 0.5 s) so the suite stays quick; its table still names the workers.
#
#   bash tests/examples/run-examples.sh BIN_DIR
set -euo pipefail
bin=${1:?usage: run-examples.sh BIN_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/jobqueue-examples-XXXXXX)
chmod 755 "$tmp"  # PostgreSQL runs as an unprivileged user when we are root
dev_pid=
cleanup() {
  if [[ -n $dev_pid ]] && kill -0 "$dev_pid" 2>/dev/null; then
    kill -INT "$dev_pid"
    wait "$dev_pid" || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# The examples find this dev through its env file: the same path a newcomer
# gets, under JOBQUEUE_DEV_DIR instead of .jobqueue-dev.
export JOBQUEUE_DEV_DIR=$tmp/dev
unset JOBQUEUE_URL JOBQUEUE_TOKEN DATABASE_URL API_SECRET_KEY
API_PORT=0 "$bin/jobqueue" dev >"$tmp/dev.log" 2>&1 &
dev_pid=$!
for _ in $(seq 600); do
  [[ -f $JOBQUEUE_DEV_DIR/env ]] && break
  kill -0 "$dev_pid" 2>/dev/null || { cat "$tmp/dev.log"; echo "jobqueue dev exited early" >&2; exit 1; }
  sleep 0.1
done
[[ -f $JOBQUEUE_DEV_DIR/env ]] || { cat "$tmp/dev.log"; echo "jobqueue dev wrote no env file in 60 s" >&2; exit 1; }

mkdir -p "$tmp/out"
status=0
for example in "$root"/examples/*.sh; do
  name=$(basename "$example")
  [[ $name == lib.sh ]] && continue
  echo "=== $name"
  started=$SECONDS
  if OUT_DIR=$tmp/out JOBS=8 JOB_SECONDS=0.5 bash "$example"; then
    echo "=== $name passed in $((SECONDS - started)) s"
  else
    echo "=== $name FAILED"
    status=1
  fi
done

kill -INT "$dev_pid"
wait "$dev_pid" || { echo "jobqueue dev exited non-zero" >&2; status=1; }
dev_pid=
[[ ! -e $JOBQUEUE_DEV_DIR/env ]] || { echo "jobqueue dev left its env file behind" >&2; status=1; }
((status == 0)) || { echo "--- jobqueue dev's output:"; cat "$tmp/dev.log"; }
exit $status
