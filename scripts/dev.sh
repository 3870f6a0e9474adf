#!/usr/bin/env bash
# The local all-in-one: set-up, build what `jobqueue dev` runs (the CLI, the
# API, the worker and the reaper; not the tests), then `jobqueue dev` (a
# private PostgreSQL in .jobqueue-dev/ unless DATABASE_URL is set). Ctrl-C
# stops it. Arguments go to `jobqueue dev` (e.g. --workers 4).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target jobqueue jobqueue-api jobqueue-worker jobqueue-reaper -- --quiet
exec "$BUILD_DIR/jobqueue" dev "$@"
