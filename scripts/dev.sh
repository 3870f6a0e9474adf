#!/usr/bin/env bash
# The local all-in-one: set-up, build, then `jobqueue dev` (a private
# PostgreSQL in .jobqueue-dev/ unless DATABASE_URL is set). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
exec build/jobqueue dev "$@"
