#!/usr/bin/env bash
# Installs what is missing (scripts/setup.sh) and builds into BUILD_DIR
# (default build/). JOBQUEUE_SANITIZE=address,undefined builds instrumented.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DJOBQUEUE_SANITIZE="${JOBQUEUE_SANITIZE:-}" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" -- --quiet
