#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang (ASan + UBSan) and runs
# each for FUZZ_SECONDS (default 60) from its seed corpus in
# fuzz/corpus/<target>/. A crash, leak, timeout or out-of-memory fails the
# run and leaves the input in build-fuzz/artifacts/. FUZZ_TARGETS limits the
# targets (space-separated).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
cmake -S fuzz -B "$BUILD_DIR" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" -- --quiet
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-"ops_fuzz image_meta_fuzz multipart_fuzz"}
mkdir -p "$BUILD_DIR/artifacts"
for target in $targets; do
  corpus="$BUILD_DIR/corpus/$target"
  mkdir -p "$corpus"
  seeds="fuzz/corpus/$target"
  [ -d "$seeds" ] || seeds=""
  echo "fuzz: $target for ${seconds}s" >&2
  # -rss_limit_mb: a parser that allocates what a header claims fails here.
  "$BUILD_DIR/$target" "$corpus" $seeds -max_total_time="$seconds" -rss_limit_mb=512 \
    -max_len=65536 -timeout=10 -print_final_stats=1 -artifact_prefix="$BUILD_DIR/artifacts/$target-" \
    2>"$BUILD_DIR/$target.log" || { tail -50 "$BUILD_DIR/$target.log"; exit 1; }
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$BUILD_DIR/$target.log" | sed "s/^/fuzz: $target /" >&2
done
