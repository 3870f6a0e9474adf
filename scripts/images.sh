#!/usr/bin/env bash
# Builds the two container images, jobqueue-api and jobqueue-worker, with
# docker when a Docker daemon answers, else with podman (installed from
# Debian when missing; see scripts/container-engine.sh). Tags each with the
# git revision (with -dirty when the tree has uncommitted changes) and
# `latest`, and prints their sizes.
#
#   bash scripts/images.sh          # build both, print "name:tag size"
#   IMAGE_TAG=v1 bash scripts/images.sh
#
# The second image reuses the first one's build stage from the layer cache.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/container-engine.sh
source "$ROOT/scripts/container-engine.sh"

revision_tag() {
  local rev
  rev=$(git rev-parse --short=12 HEAD 2>/dev/null) || { echo dev; return; }
  if ! git diff --quiet HEAD -- 2>/dev/null; then rev="$rev-dirty"; fi
  echo "$rev"
}

IMAGE_TAG=${IMAGE_TAG:-$(revision_tag)}
pick_engine
ensure_base_image

for component in api worker; do
  name=jobqueue-$component
  container_log "building $name:$IMAGE_TAG with $ENGINE"
  start=$(date +%s)
  $ENGINE build --quiet -f "Dockerfile.$component" -t "$name:$IMAGE_TAG" -t "$name:latest" . >/dev/null \
    || container_fail "building $name failed (run: $ENGINE build -f Dockerfile.$component .)"
  container_log "built $name:$IMAGE_TAG in $(( $(date +%s) - start )) s"
done

for component in api worker; do
  name=jobqueue-$component
  bytes=$($ENGINE image inspect --format '{{.Size}}' "$name:$IMAGE_TAG")
  printf '%s:%s\t%s MB\n' "$name" "$IMAGE_TAG" "$(( (bytes + 500000) / 1000000 ))"
done
