#!/usr/bin/env bash
# The dashboard (ui/) in a real browser: Debian's Chromium driven by
# playwright-core (pinned in tests/ui/package-lock.json) against a real
# `jobqueue dev`, twice: without API_SECRET_KEY for the pages, the job
# actions and the image job, then with a random key for the token prompt.
# Full-page screenshots of every page go to OUT_DIR. The whole run has a time
# limit (UI_TEST_SECONDS, 180 s); dev is always stopped with SIGINT.
#
#   bash tests/ui/run-ui-tests.sh BIN_DIR OUT_DIR
set -euo pipefail
usage='usage: run-ui-tests.sh BIN_DIR OUT_DIR'
bin=${1:?$usage}
out=${2:?$usage}
root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/tests/ui
limit=${UI_TEST_SECONDS:-180}
deadline=$((SECONDS + limit))

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "run-ui-tests: '$tool' is not installed; install it: apt-get install nodejs npm" >&2
    exit 2
  fi
done
if [[ ! -x /usr/bin/chromium ]]; then
  echo "run-ui-tests: /usr/bin/chromium is not installed; install it: apt-get install chromium" >&2
  exit 2
fi
[[ -d $bin ]] || { echo "run-ui-tests: BIN_DIR $bin is not a directory; $usage" >&2; exit 2; }
bin=$(cd "$bin" && pwd)
for b in jobqueue jobqueue-api jobqueue-worker jobqueue-reaper; do
  [[ -x $bin/$b ]] || { echo "run-ui-tests: $bin/$b is missing; build it first" >&2; exit 2; }
done

# npm ci writes node_modules/.package-lock.json: older than the lockfile
# (or absent) means the installed tree is not the one pinned.
if [[ ! -f $here/node_modules/.package-lock.json || $here/package-lock.json -nt $here/node_modules/.package-lock.json ]]; then
  echo "run-ui-tests: installing tests/ui (npm ci)" >&2
  (cd "$here" && npm ci --no-audit --no-fund)
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d /tmp/jobqueue-ui-XXXXXX)
chmod 755 "$tmp"  # PostgreSQL runs as an unprivileged user when we are root
dev_pid=
dev_log=
stop_dev() {
  if [[ -n $dev_pid ]] && kill -0 "$dev_pid" 2>/dev/null; then
    kill -INT "$dev_pid"
    wait "$dev_pid" || true
  fi
  dev_pid=
}
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  stop_dev
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

left() { echo $((deadline - SECONDS)); }

# start_dev NAME [VAR=VALUE...]: a fresh `jobqueue dev` (its own PostgreSQL)
# in $tmp/NAME; returns once its env file exists.
start_dev() {
  local name=$1
  shift
  export JOBQUEUE_DEV_DIR=$tmp/$name
  dev_log=$tmp/$name.log
  env -u JOBQUEUE_URL -u JOBQUEUE_TOKEN -u DATABASE_URL -u API_SECRET_KEY \
    API_PORT=0 "$@" "$bin/jobqueue" dev >"$dev_log" 2>&1 &
  dev_pid=$!
  while [[ ! -f $JOBQUEUE_DEV_DIR/env ]]; do
    if ! kill -0 "$dev_pid" 2>/dev/null; then
      cat "$dev_log"
      echo "run-ui-tests: jobqueue dev ($name) exited early" >&2
      dev_pid=
      return 1
    fi
    if (($(left) <= 0)); then
      cat "$dev_log"
      echo "run-ui-tests: jobqueue dev ($name) wrote no env file within the time limit" >&2
      return 1
    fi
    sleep 0.1
  done
}

# run_phase PHASE: the browser checks of PHASE against the dev just started,
# with what its env file says (JOBQUEUE_URL, JOBQUEUE_TOKEN).
run_phase() {
  local phase=$1 budget
  budget=$(left)
  ((budget > 5)) || { echo "not ok - time limit: no time left for the $phase phase" >&2; return 1; }
  (
    # shellcheck source=/dev/null
    . "$JOBQUEUE_DEV_DIR/env"
    export JOBQUEUE_URL JOBQUEUE_TOKEN="${JOBQUEUE_TOKEN:-}" OUT_DIR=$out UI_TEST_SECONDS=$((budget - 3))
    cd "$here"
    timeout -k 5 "$budget" node dashboard.test.mjs "$phase"
  )
}

status=0
echo "=== ui: pages, actions and images (jobqueue dev without a key)"
start_dev main
run_phase main || status=1
stop_dev
((status == 0)) || { echo "--- jobqueue dev's output (main):"; tail -n 60 "$dev_log"; }

echo "=== ui: the token prompt (jobqueue dev with API_SECRET_KEY)"
key=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
auth_status=0
start_dev auth "API_SECRET_KEY=$key"
run_phase auth || auth_status=1
stop_dev
((auth_status == 0)) || { status=1; echo "--- jobqueue dev's output (auth):"; tail -n 60 "$dev_log"; }

shopt -s nullglob
shots=("$out"/*.png)
echo "=== ui: ${#shots[@]} screenshots in $out: ${shots[*]##*/}"
((status == 0)) && echo "=== ui: all checks passed in $((SECONDS)) s" || echo "=== ui: FAILED"
exit $status
