#!/usr/bin/env bash
# The whole test suite: set-up, build, then every test ([pg] included) via
# ctest. The tests start their own throwaway PostgreSQL, or use
# JOBQUEUE_TEST_DATABASE_URL when set (never DATABASE_URL).
# JOBQUEUE_SANITIZE=address,undefined runs the same tests instrumented;
# JOBQUEUE_SANITIZE=thread runs the multi-threaded ones under ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${JOBQUEUE_SANITIZE:-}" ]; then
  export BUILD_DIR=${BUILD_DIR:-build-$(echo "$JOBQUEUE_SANITIZE" | tr ',' '-')}
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  # tests/tsan.supp: GDAL (linked by Debian's OpenCV imgcodecs) reports a
  # lock-order inversion between its own mutexes, none of our code on the stack.
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp}
fi
BUILD_DIR=${BUILD_DIR:-build}
BUILD_DIR="$BUILD_DIR" bash scripts/build.sh
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900
