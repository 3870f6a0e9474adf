#!/usr/bin/env bash
# Runs the built container images for real (scripts/images.sh builds them,
# from the layer cache when nothing changed): the worker image migrates a
# throwaway PostgreSQL (`jobqueue migrate`), the API container takes an
# image job over HTTP, the worker container completes it, and the result
# comes back through the API. Both containers run with --read-only (a tmpfs
# /tmp, as the emptyDir on Kubernetes), and the script checks they run as
# uid 10001 and cannot write their root filesystem.
#
#   bash scripts/container-smoke.sh
#   JOBQUEUE_SKIP_CONTAINERS=1 bash scripts/container-smoke.sh   # skip, saying so
#
# The containers use the host's network (PostgreSQL is a pg_virtualenv
# cluster on the host's loopback): no registry is needed for a postgres image.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [ "${JOBQUEUE_SKIP_CONTAINERS:-}" = 1 ]; then
  echo "container smoke test: SKIPPED because JOBQUEUE_SKIP_CONTAINERS=1 (nothing about the images was checked)" >&2
  exit 0
fi

# Inside the throwaway cluster (re-invoked by pg_virtualenv, PG* set).
if [ "${1:-}" = --inside ]; then
  source "$ROOT/scripts/container-engine.sh"
  pick_engine
  TAG=$2
  run_id=smoke-$$
  API="jobqueue-api-$run_id"
  WORKER="jobqueue-worker-$run_id"
  cleanup() { $ENGINE rm -f -t 2 "$API" "$WORKER" >/dev/null 2>&1 || true; }
  trap cleanup EXIT
  fail() {
    container_log "FAILED: $*"
    for c in "$API" "$WORKER"; do
      echo "--- logs of $c" >&2
      $ENGINE logs "$c" 2>&1 | tail -20 >&2 || true
    done
    exit 1
  }
  free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
  DSN="host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=$PGUSER password=$PGPASSWORD"
  API_PORT=$(free_port)
  WORKER_PORT=$(free_port)
  common=(--network host --read-only --tmpfs /tmp:rw,size=16m --cap-drop ALL --security-opt no-new-privileges
          -e "DATABASE_URL=$DSN" -e LOG_FORMAT=json)

  container_log "migrating with the worker image (jobqueue migrate)"
  $ENGINE run --rm "${common[@]}" --entrypoint jobqueue "jobqueue-worker:$TAG" migrate >&2 \
    || fail "jobqueue migrate in the worker image"
  # Run twice: the migration Job must be safe to re-run.
  $ENGINE run --rm "${common[@]}" --entrypoint jobqueue "jobqueue-worker:$TAG" migrate >&2 \
    || fail "jobqueue migrate, second run"

  $ENGINE run -d --name "$API" "${common[@]}" -e "API_PORT=$API_PORT" "jobqueue-api:$TAG" >/dev/null
  $ENGINE run -d --name "$WORKER" --hostname "$WORKER" "${common[@]}" -e "WORKER_METRICS_PORT=$WORKER_PORT" \
    -e WORKER_POLL_INTERVAL_SECONDS=0.2 "jobqueue-worker:$TAG" >/dev/null

  wait_http() {  # port path: until 200, 30 s
    for _ in $(seq 1 150); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1$2")" = 200 ] && return 0
      sleep 0.2
    done
    return 1
  }
  wait_http "$API_PORT" /ready || fail "the API container never answered /ready with 200"
  wait_http "$WORKER_PORT" /ready || fail "the worker container never answered /ready with 200"

  for c in "$API" "$WORKER"; do
    uid=$($ENGINE exec "$c" sh -c 'id -u') || fail "exec in $c"
    [ "$uid" = 10001 ] || fail "$c runs as uid $uid, not 10001"
    if $ENGINE exec "$c" sh -c 'touch /usr/local/bin/x' 2>/dev/null; then fail "$c could write its root filesystem"; fi
    $ENGINE exec "$c" sh -c 'touch /tmp/x' || fail "$c cannot write /tmp"
  done

  # The dashboard is in the API image, and the worker container has
  # reported itself under its hostname (GET /v1/workers).
  curl -sf "http://127.0.0.1:$API_PORT/ui/" | grep -q '<title>jobqueue dashboard</title>' \
    || fail "GET /ui/ did not serve the dashboard"
  listed=""
  for _ in $(seq 1 50); do
    curl -sf "http://127.0.0.1:$API_PORT/v1/workers" | grep -q "\"id\":\"$WORKER\"" && { listed=1; break; }
    sleep 0.2
  done
  [ -n "$listed" ] || fail "GET /v1/workers does not list the worker container $WORKER after 10 s"

  # An image job: a small JPEG from the fuzz corpus, grayscale then a thumbnail.
  answer=$(curl -sf -X POST -H 'Content-Type: image/jpeg' --data-binary @fuzz/corpus/image_meta_fuzz/baseline.jpg \
    "http://127.0.0.1:$API_PORT/v1/images?ops=grayscale,thumbnail:4x4") || fail "POST /v1/images"
  id=$(echo "$answer" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  state=""
  for _ in $(seq 1 150); do
    job=$(curl -sf "http://127.0.0.1:$API_PORT/v1/jobs/$id") || fail "GET /v1/jobs/$id"
    state=$(echo "$job" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
    [ "$state" = succeeded ] && break
    case "$state" in dead|cancelled) fail "job $id ended $state: $job";; esac
    sleep 0.2
  done
  [ "$state" = succeeded ] || fail "job $id still $state after 30 s"
  by=$(echo "$job" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j.get("processed_by") or j.get("lease_owner") or "")')
  [ "$by" = "$WORKER" ] || fail "job $id was processed by '$by', not the worker container $WORKER"
  type=$(curl -sf -o /tmp/smoke-result.$$ -w '%{content_type}' "http://127.0.0.1:$API_PORT/v1/jobs/$id/result") \
    || fail "GET /v1/jobs/$id/result"
  [ "$type" = image/jpeg ] || fail "the result's content type is $type"
  size=$(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); assert d[:2]==b"\xff\xd8", "not a JPEG"; print(len(d))' /tmp/smoke-result.$$) \
    || fail "the result is not a JPEG"
  rm -f /tmp/smoke-result.$$
  container_log "job $id: succeeded in $WORKER, a $size-byte JPEG came back through the API"
  $ENGINE stop -t 30 "$WORKER" >/dev/null
  $ENGINE logs "$WORKER" 2>&1 | grep -q '"msg":"worker stopped"' || fail "the worker did not drain on SIGTERM"
  container_log "passed: jobqueue-api:$TAG and jobqueue-worker:$TAG (uid 10001, read-only root)"
  exit 0
fi

source "$ROOT/scripts/container-engine.sh"
pick_engine
command -v pg_virtualenv >/dev/null || container_fail "needs pg_virtualenv (Debian's postgresql-common; bash scripts/setup.sh installs it)"
tag=$(bash "$ROOT/scripts/images.sh" | awk -F'[:\t]' 'NR==1 {print $2}')
[ -n "$tag" ] || container_fail "scripts/images.sh printed no tag"
pg_virtualenv bash "$ROOT/scripts/container-smoke.sh" --inside "$tag"
bash tests/k8s/kube-play.sh
