#!/usr/bin/env bash
# Image benchmark: the same 12-megapixel JPEG photographs made into 256x256
# (fit inside) JPEG thumbnails, quality 85, three ways on the same cores in
# one run:
#
#   (a) the queue: every image uploaded over HTTP (POST /v1/images, raw body,
#       ?ops=thumbnail:256x256) to jobqueue-api, stored in a throwaway
#       PostgreSQL (pg_virtualenv, fsync on), thumbnailed by jobqueue-worker
#       processes, output stored; measured end to end (workers running while
#       the images arrive) and split (upload alone with no worker running;
#       then processing alone, first claim to last completion);
#   (b) images_loop (bench/images_loop.cpp): the same OpenCV calls in a bare
#       loop over the files, no queue, no database: the ceiling of our code;
#   (c) vipsthumbnail (Debian's libvips-tools), what a user would reach for.
#
#   bash bench/images.sh [--quick]
#
# The photographs: four photographs from Debian's lomiri-wallpapers-16.04 and
# lomiri-wallpapers-20.04 packages (installed by this script), each scaled
# and centre-cropped to 4000x3000 and saved as JPEG quality 90 (4:2:0),
# as is and mirrored: 8 distinct files, used in turn for IMAGES images.
#
# Environment: IMAGES (images per run, 40; 8 with --quick), RUNS (3; 1 with
# --quick), PROCS (process counts, "1 2"), CONCURRENCY (jobs at once per
# worker process, a list: each value is a row of its own; "auto" = the cores
# shared out, ceil(cores / processes), "2x" = twice that, or a number; the
# default "auto"; images_loop always runs "auto" threads per process),
# SUBMITTERS (parallel uploads, 4), BUILD_DIR (build-bench, shared with
# bench/core.sh), NO_BUILD=1 to take the binaries as they are. Prints two
# markdown tables (images/s and peak RSS; CPU time per image); the full
# default run (no knob set, no --quick) also writes them to
# bench/results/images.txt. See bench/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
RESULTS=$ROOT/bench/results/images.txt
KNOBS="IMAGES RUNS PROCS CONCURRENCY SUBMITTERS"
# package:path of each source photograph (all of them at least 12 MP).
SOURCES=(
  lomiri-wallpapers-20.04:/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg
  lomiri-wallpapers-16.04:/usr/share/backgrounds/Dragonfly_by_Bolly.jpg
  lomiri-wallpapers-16.04:/usr/share/backgrounds/seeding_by_Clements_Engelhardt.jpg
  lomiri-wallpapers-16.04:/usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg
)
PHOTO_W=4000
PHOTO_H=3000
BOX=256x256
THUMB_W=256  # 4000x3000 fitted inside 256x256
THUMB_H=192
OPS="thumbnail:$BOX"

# median, sql
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

log() { echo "images.sh: $*" >&2; }
fail() { log "$*"; exit 1; }
now_ms() { date +%s%3N; }

# ---------------------------------------------------------------------------
# Inside the cluster (re-invoked by pg_virtualenv with PG* variables set).

record() { echo "$1|$2" >>"$tmp/results"; }  # record KEY VALUE

rate() { awk -v n="$1" -v ms="$2" 'BEGIN { printf "%.2f\n", n * 1000 / ms }'; }  # rate IMAGES MILLISECONDS

mib() { printf '%s\n' "$@" | sort -g | tail -1 | awk '{ printf "%.0f\n", $1 / 1024 }'; }  # largest KiB value, in MiB

vmhwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

CLK_TCK=$(getconf CLK_TCK)
# CPU time of live processes, user + system, in ms: cpu_ms PID...
cpu_ms() {
  local pid
  for pid in "$@"; do sed 's/^.*) //' "/proc/$pid/stat"; done |
    awk -v hz="$CLK_TCK" '{ t += $12 + $13 } END { printf "%.0f\n", t * 1000 / hz }'
}
# CPU time of the whole PostgreSQL cluster so far, in ms: the postmaster,
# its live children (backends, checkpointer, WAL writer, ...) and the
# children it has reaped (cutime + cstime).
pg_cpu_ms() {
  local pid
  { sed 's/^.*) //' "/proc/$PG_PID/stat" | awk '{ print $12 + $13 + $14 + $15 }'
    for pid in $(ps -o pid= --ppid "$PG_PID"); do
      sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 }' || true
    done
  } | awk -v hz="$CLK_TCK" '{ t += $1 } END { printf "%.0f\n", t * 1000 / hz }'
}
per_image() { awk -v ms="$1" -v n="$IMAGES" 'BEGIN { printf "%.1f\n", ms / n }'; }  # per_image MS

# concurrency_for P [TOKEN]: jobs at once per worker process (and threads
# per images_loop process). auto: the cores shared out, ceil(cores / P);
# Nx: N times that; a number: itself.
concurrency_for() {
  local per=$(((CORES + $1 - 1) / $1)) token=${2:-auto}
  case $token in
    auto) echo "$per" ;;
    *x) echo $((${token%x} * per)) ;;
    *) echo "$token" ;;
  esac
}

# The file list of one run: IMAGES paths, the photos in turn, each under a
# name of its own ($tmp/in/000.jpg, a symbolic link) so that images_loop and
# vipsthumbnail, which name a thumbnail after its input, write IMAGES files.
image_list() {
  local i
  if [[ ! -e $tmp/in/$(printf '%03d' $((IMAGES - 1))).jpg ]]; then
    rm -rf "$tmp/in"; mkdir -p "$tmp/in"
    for ((i = 0; i < IMAGES; i++)); do ln -s "${PHOTOS[i % ${#PHOTOS[@]}]}" "$tmp/in/$(printf '%03d' "$i").jpg"; done
  fi
  for ((i = 0; i < IMAGES; i++)); do echo "$tmp/in/$(printf '%03d' "$i").jpg"; done
}

# Every thumbnail in DIR is THUMB_WxTHUMB_H, and there are IMAGES of them.
check_outputs() {  # check_outputs DIR LABEL
  local n bad
  n=$(find "$1" -name '*.jpg' | wc -l)
  ((n == IMAGES)) || fail "$2: $n thumbnails in $1, expected $IMAGES"
  bad=$(vipsheader "$1"/*.jpg | grep -vc ": ${THUMB_W}x${THUMB_H} uchar, 3 bands" || true)
  ((bad == 0)) || fail "$2: $bad thumbnails are not ${THUMB_W}x${THUMB_H} colour: $(vipsheader "$1"/*.jpg | head -3)"
}

# --- (a) the queue ----------------------------------------------------------

start_api() {
  API_PORT=0 API_BIND_ADDRESS=127.0.0.1 LOG_FORMAT=json LOG_LEVEL=info \
    "$BUILD_DIR/jobqueue-api" 2>"$tmp/api.log" >&2 &
  API_PID=$!
  local i port=""
  for ((i = 0; i < 200; i++)); do
    port=$(sed -n 's/.*"msg":"api listening".*"port":\([0-9]*\).*/\1/p; s/.*"port":\([0-9]*\).*"msg":"api listening".*/\1/p' "$tmp/api.log" | head -1)
    [[ -n $port ]] && break
    kill -0 "$API_PID" 2>/dev/null || break
    sleep 0.05
  done
  [[ -n $port ]] || { cat "$tmp/api.log" >&2; fail "jobqueue-api did not start"; }
  API_URL=http://127.0.0.1:$port
}

stop_api() {
  API_HWM=$(vmhwm "$API_PID")
  kill -TERM "$API_PID"
  wait "$API_PID" || fail "jobqueue-api exited with status $? (log: $tmp/api.log)"
  API_PID=""
}

# start_workers P C: P jobqueue-worker processes, C jobs at once each; waits
# until each answers /health on its metrics port. WPIDS and WPORTS are set.
# The port is read from the socket table, not the log: the JSON log goes to
# a buffered stream that shows info lines only when it fills or at exit.
start_workers() {
  local p=$1 c=$2 i k port
  WPIDS=(); WPORTS=()
  for ((i = 0; i < p; i++)); do
    WORKER_CONCURRENCY=$c WORKER_METRICS_PORT=0 HOSTNAME=bench-$i LOG_FORMAT=json LOG_LEVEL=info \
      "$BUILD_DIR/jobqueue-worker" >>"$tmp/worker-$i.log" 2>&1 &
    WPIDS+=("$!")
  done
  for ((i = 0; i < p; i++)); do
    port=""
    for ((k = 0; k < 400; k++)); do
      port=$(ss -Hltnp 2>/dev/null | awk -v pid="pid=${WPIDS[i]}," 'index($0, pid) { n = split($4, a, ":"); print a[n]; exit }')
      [[ -n $port ]] && curl -sf -o /dev/null "http://127.0.0.1:$port/health" && break
      port=""
      kill -0 "${WPIDS[i]}" 2>/dev/null || break
      sleep 0.05
    done
    [[ -n $port ]] || { cat "$tmp/worker-$i.log" >&2; fail "jobqueue-worker $i did not start"; }
    WPORTS+=("$port")
  done
}

# Stage times from the workers' /metrics: mean seconds per image of each
# image_processing_seconds{operation} and of job_duration_seconds (the whole
# handler: reading the input from PostgreSQL, validation, processing).
# Prints "decode=… thumbnail=… encode=… handler=…" in milliseconds.
stage_means() {
  local port
  for port in "${WPORTS[@]}"; do curl -s "http://127.0.0.1:$port/metrics"; done | awk '
    /^image_processing_seconds_(sum|count)\{/ {
      match($0, /operation="[^"]*"/); op = substr($0, RSTART + 11, RLENGTH - 12)
      if ($0 ~ /_sum\{/) s[op] += $NF; else c[op] += $NF
    }
    /^job_duration_seconds_(sum|count)\{/ && /kind="image.pipeline"/ {
      if ($0 ~ /_sum\{/) s["handler"] += $NF; else c["handler"] += $NF
    }
    END {
      n = split("decode thumbnail encode handler", order, " ")
      for (i = 1; i <= n; i++) if (c[order[i]] > 0) printf "%s=%.1f ", order[i], 1000 * s[order[i]] / c[order[i]]
      print ""
    }'
}

stop_workers() {
  local pid
  WORKER_HWM=()
  for pid in "${WPIDS[@]}"; do WORKER_HWM+=("$(vmhwm "$pid")"); done
  for pid in "${WPIDS[@]}"; do kill -TERM "$pid"; done
  for pid in "${WPIDS[@]}"; do
    wait "$pid" || fail "jobqueue-worker $pid exited with status $? (log: $tmp/worker-*.log)"
  done
  WPIDS=()
}

# Uploads every image with one curl process, SUBMITTERS transfers at a time;
# fails unless each was answered 202. "Expect:" turns off curl's
# 100-continue handshake for bodies over 1 MB.
submit() {  # submit [EXTRA_QUERY]
  local f sep=""
  {
    while read -r f; do
      [[ -n $sep ]] && echo "$sep"
      sep=next
      echo "url = \"$API_URL/v1/images?ops=$OPS${1:-}\""
      echo "header = \"Content-Type: image/jpeg\""
      echo "header = \"Expect:\""
      echo "data-binary = \"@$f\""
      echo "output = \"/dev/null\""
      printf '%s\n' 'write-out = "%{http_code}\n"'
    done < <(image_list)
  } >"$tmp/curl.cfg"
  # stderr to a file: curl 7.88 draws its parallel progress meter even with -s.
  /usr/bin/time -o "$tmp/curl.time" -f '%U %S' \
    curl -sS --parallel --parallel-max "$SUBMITTERS" -K "$tmp/curl.cfg" >"$tmp/codes" 2>"$tmp/curl.err" ||
    fail "curl failed: $(tr '\r' '\n' <"$tmp/curl.err" | grep -v '^ *$' | grep -v '%' | tail -3)"
  CURL_CPU=$(awk '{ printf "%.0f\n", ($1 + $2) * 1000 }' "$tmp/curl.time")
  local ok
  ok=$(grep -c '^202$' "$tmp/codes" || true)
  ((ok == IMAGES)) || fail "$ok of $IMAGES uploads answered 202: $(sort "$tmp/codes" | uniq -c | tr '\n' ' ') (api log: $tmp/api.log)"
}

# Waits until every job has succeeded (a job in any other final state, or
# 300 s, fails the run). The poll only ends the wait: the times come from
# the jobs' own timestamps.
# One psql session does every poll: a new psql and backend per poll would
# add their CPU to PostgreSQL's.
wait_done() {
  local deadline=$((SECONDS + 300)) line succeeded bad
  while :; do
    echo "SELECT count(*) FILTER (WHERE state = 'succeeded'), count(*) FILTER (WHERE state NOT IN ('succeeded', 'queued', 'running')) FROM jobqueue.jobs;" >&"${POLL[1]}"
    read -r line <&"${POLL[0]}" || fail "the polling psql session ended"
    IFS='|' read -r succeeded bad <<<"$line"
    ((bad == 0)) || fail "$bad jobs failed: $(sql "SELECT state, last_error FROM jobqueue.jobs WHERE state NOT IN ('succeeded', 'queued', 'running') LIMIT 3")"
    ((succeeded == IMAGES)) && return
    ((SECONDS < deadline)) || fail "only $succeeded of $IMAGES jobs succeeded after 300 s"
    sleep 0.2
  done
}

# Every job succeeded with a THUMB_WxTHUMB_H JPEG result and stored output.
check_jobs() {
  local line
  line=$(sql "SELECT count(*) FILTER (WHERE j.state = 'succeeded' AND j.result->>'width' = '$THUMB_W' AND j.result->>'height' = '$THUMB_H' AND j.result->>'format' = 'jpeg'),
                     (SELECT count(*) FROM jobqueue.job_blobs WHERE role = 'output' AND byte_size > 0)
              FROM jobqueue.jobs AS j")
  [[ $line == "$IMAGES|$IMAGES" ]] || fail "queue: expected $IMAGES succeeded ${THUMB_W}x${THUMB_H} jobs with stored output, got $line"
  # The same work as the bare loop: the stored thumbnails are byte for byte
  # the ones images_loop makes of the same photographs.
  [[ $(sql "SELECT DISTINCT encode(sha256, 'hex') FROM jobqueue.job_blobs WHERE role = 'output' ORDER BY 1") == "$REF_SHAS" ]] ||
    fail "queue: the stored thumbnails differ from images_loop's"
}

# first claim, last completion of the jobs, epoch ms
job_times() { sql "SELECT (extract(epoch FROM min(started_at)) * 1000)::bigint, (extract(epoch FROM max(finished_at)) * 1000)::bigint FROM jobqueue.jobs"; }

fresh_queue() {  # untimed: an empty queue and a checkpoint before each timed run
  sql "TRUNCATE jobqueue.jobs CASCADE" >/dev/null 2>&1
  sql "CHECKPOINT" >/dev/null
}

queue_run() {  # queue_run P C RUN
  local p=$1 c=$2 run=$3 id=$1.$2 t0 t1 first last e2e claim upload proc stages pg0 w0 a0 pg w a kv

  # End to end: the workers wait, the images arrive.
  fresh_queue
  start_api
  start_workers "$p" "$c"
  pg0=$(pg_cpu_ms); w0=$(cpu_ms "${WPIDS[@]}"); a0=$(cpu_ms "$API_PID")
  t0=$(now_ms)
  submit
  t1=$(now_ms)
  wait_done
  pg=$(($(pg_cpu_ms) - pg0)); w=$(($(cpu_ms "${WPIDS[@]}") - w0)); a=$(($(cpu_ms "$API_PID") - a0))
  IFS='|' read -r first last <<<"$(job_times)"
  check_jobs
  stages=$(stage_means)
  stop_workers
  stop_api
  e2e=$(rate "$IMAGES" $((last - t0)))
  claim=$(rate "$IMAGES" $((last - first)))
  record "e2e.$id" "$e2e"
  record "rss.worker.$id" "$(mib "${WORKER_HWM[@]}")"
  record "rss.api.$id" "$(mib "$API_HWM")"
  record "cpu.e2e.$id.image" "$(per_image "$w")"
  record "cpu.e2e.$id.api" "$(per_image "$a")"
  record "cpu.e2e.$id.pg" "$(per_image "$pg")"
  record "cpu.e2e.$id.curl" "$(per_image "$CURL_CPU")"
  log "run $run: queue end to end, $p x $c: $e2e images/s (first submission to last completion; from first claim: $claim/s; uploads took $((t1 - t0)) ms); worker start-up CPU ${w0} ms; CPU ms per image: workers $(per_image "$w"), api $(per_image "$a"), postgres $(per_image "$pg"), curl $(per_image "$CURL_CPU"); worker stages, ms per image: $stages; VmHWM KiB workers ${WORKER_HWM[*]}, api $API_HWM"

  # Split: upload alone, then processing alone. The images go to a queue no
  # worker serves; once the workers are up (and their start-up CPU is past),
  # one UPDATE moves the jobs to theirs and a NOTIFY wakes them.
  fresh_queue
  start_api
  pg0=$(pg_cpu_ms); a0=$(cpu_ms "$API_PID")
  t0=$(now_ms)
  submit "&queue=bench-held"
  t1=$(now_ms)
  pg=$(($(pg_cpu_ms) - pg0)); a=$(($(cpu_ms "$API_PID") - a0))
  upload=$(rate "$IMAGES" $((t1 - t0)))
  record "upload.$p" "$upload"
  record "cpu.upload.$p.api" "$(per_image "$a")"
  record "cpu.upload.$p.pg" "$(per_image "$pg")"
  record "cpu.upload.$p.curl" "$(per_image "$CURL_CPU")"
  log "run $run: queue upload alone: $upload images/s ($((t1 - t0)) ms, no worker running); CPU ms per image: api $(per_image "$a"), postgres $(per_image "$pg"), curl $(per_image "$CURL_CPU")"
  start_workers "$p" "$c"
  pg0=$(pg_cpu_ms); w0=$(cpu_ms "${WPIDS[@]}")
  sql "UPDATE jobqueue.jobs SET queue = 'default' WHERE queue = 'bench-held'; NOTIFY jobqueue, 'default'" >/dev/null
  wait_done
  pg=$(($(pg_cpu_ms) - pg0)); w=$(($(cpu_ms "${WPIDS[@]}") - w0))
  IFS='|' read -r first last <<<"$(job_times)"
  check_jobs
  stages=$(stage_means)
  stop_workers
  stop_api
  proc=$(rate "$IMAGES" $((last - first)))
  record "proc.$id" "$proc"
  record "rss.api.upload.$p" "$(mib "$API_HWM")"
  record "cpu.proc.$id.image" "$(per_image "$w")"
  record "cpu.proc.$id.pg" "$(per_image "$pg")"
  for kv in $stages; do record "stage.$id.${kv%%=*}" "${kv#*=}"; done
  log "run $run: queue processing alone, $p x $c: $proc images/s (first claim to last completion); CPU ms per image: workers $(per_image "$w"), postgres $(per_image "$pg"); worker stages, ms per image: $stages"
}

# --- (b) the bare loop --------------------------------------------------------

loop_run() {  # loop_run P THREADS KEY RUN
  local p=$1 threads=$2 key=$3 run=$4 i k out=$tmp/out-loop pids=() start end hwm=() r cpu files=()
  rm -rf "$out"; mkdir -p "$out"
  mapfile -t files < <(image_list)
  for ((i = 0; i < p; i++)); do
    local mine=()
    for ((k = i; k < ${#files[@]}; k += p)); do mine+=("${files[k]}"); done
    "$BUILD_DIR/bench/images_loop" --threads "$threads" --size "$BOX" --quality 85 --out "$out" "${mine[@]}" >"$tmp/loop-$i.json" &
    pids+=("$!")
  done
  for i in "${pids[@]}"; do wait "$i" || fail "images_loop exited with status $?"; done
  check_outputs "$out" "images_loop"
  start=$(for ((i = 0; i < p; i++)); do json_field start_ms "$(cat "$tmp/loop-$i.json")"; done | sort -g | head -1)
  end=$(for ((i = 0; i < p; i++)); do json_field end_ms "$(cat "$tmp/loop-$i.json")"; done | sort -g | tail -1)
  for ((i = 0; i < p; i++)); do hwm+=("$(json_field vmhwm_kib "$(cat "$tmp/loop-$i.json")")"); done
  cpu=$(for ((i = 0; i < p; i++)); do json_field cpu_ms "$(cat "$tmp/loop-$i.json")"; done | awk '{ t += $1 } END { print t }')
  record "cpu.$key.image" "$(per_image "$cpu")"
  r=$(rate "$IMAGES" $((end - start)))
  record "$key" "$r"
  record "rss.$key" "$(mib "${hwm[@]}")"
  log "run $run: loop $p x $threads: $r images/s (first read to last write over the processes); CPU ms per image $(per_image "$cpu"); VmHWM KiB ${hwm[*]}"
}

# --- (c) vipsthumbnail --------------------------------------------------------

vips_run() {  # vips_run P RUN
  local p=$1 run=$2 out=$tmp/out-vips t0 t1 r per cpu kib=()
  rm -rf "$out" "$tmp/vips-rss"; mkdir -p "$out"
  per=$(((IMAGES + p - 1) / p))
  t0=$(now_ms)
  image_list | tr '\n' '\0' |
    xargs -0 -P "$p" -n "$per" /usr/bin/time -a -o "$tmp/vips-rss" -f '%M %U %S' \
      vipsthumbnail --size "$BOX" -o "$out/%s.jpg[Q=85,strip]" || fail "vipsthumbnail failed"
  t1=$(now_ms)
  check_outputs "$out" "vipsthumbnail"
  r=$(rate "$IMAGES" $((t1 - t0)))
  record "vips.$p" "$r"
  mapfile -t kib < <(cut -d' ' -f1 "$tmp/vips-rss")
  record "rss.vips.$p" "$(mib "${kib[@]}")"
  cpu=$(awk '{ t += ($2 + $3) * 1000 } END { printf "%.0f", t }' "$tmp/vips-rss")
  record "cpu.vips.$p.image" "$(per_image "$cpu")"
  log "run $run: vipsthumbnail, $p processes: $r images/s (xargs start to end, process start-up included); CPU ms per image $(per_image "$cpu"); max RSS KiB, user s, system s: $(tr '\n' ' ' <"$tmp/vips-rss")"
}

# --- The table ----------------------------------------------------------------

median_of() {  # median_of KEY -> median, or n/a
  local vals
  vals=$(awk -F'|' -v k="$1" '$1 == k { print $2 }' "$tmp/results")
  if [[ -z $vals ]]; then echo "n/a"; else median <<<"$vals"; fi
}

fmt() { if [[ $1 == n/a ]]; then echo n/a; else awk -v v="$1" 'BEGIN { printf (v >= 100 ? "%.0f" : "%.1f"), v }'; fi; }

fmt1() { if [[ $1 == n/a ]]; then echo n/a; else awk -v v="$1" 'BEGIN { printf "%.1f", v }'; fi; }
mib_of() {
  local v; v=$(median_of "$1")
  if [[ $v == n/a ]]; then echo n/a; else awk -v v="$v" 'BEGIN { printf "%.0f", v }'; fi
}

pct() {  # pct A B -> A/B in percent
  if [[ $1 == n/a || $2 == n/a ]]; then echo "—"; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", 100 * a / b }'; fi
}

table() {
  local p c b tok id
  echo "| method | processes x jobs at once | images/s | vs (b), same processes | peak RSS per process, MiB |"
  echo "|---|---|---:|---:|---:|"
  for p in $PROCS; do
    b=$(median_of "loop.$p")
    for tok in $CONCURRENCY; do
      c=$(concurrency_for "$p" "$tok"); id=$p.$c
      echo "| (a) queue, end to end: upload while workers run, first submission to last completion | $p worker x $c | $(fmt "$(median_of "e2e.$id")") | $(pct "$(median_of "e2e.$id")" "$b") | worker $(mib_of "rss.worker.$id"), api $(mib_of "rss.api.$id") |"
      echo "| (a) queue, processing only: uploaded before, first claim to last completion | $p worker x $c | $(fmt "$(median_of "proc.$id")") | $(pct "$(median_of "proc.$id")" "$b") | |"
    done
    echo "| (a) upload only: POST /v1/images into PostgreSQL, no worker running | api, $SUBMITTERS uploads at once | $(fmt "$(median_of "upload.$p")") | | api $(mib_of "rss.api.upload.$p") |"
    echo "| (b) bare loop, images_loop | $p x $(concurrency_for "$p") threads | $(fmt "$b") | 100% | $(mib_of "rss.loop.$p") |"
    echo "| (c) vipsthumbnail (xargs -P $p) | $p x 1 file | $(fmt "$(median_of "vips.$p")") | $(pct "$(median_of "vips.$p")" "$b") | $(mib_of "rss.vips.$p") |"
  done
  echo "| (b) bare loop on one core | 1 x 1 thread | $(fmt "$(median_of loop1)") | | $(mib_of "rss.loop1") |"
}

# CPU time per image of every process involved (user + system, ms, medians):
# unlike images/s it hardly depends on what else runs on the machine, and
# it says where the cores went.
cpu_table() {
  local p c tok id total
  cpu_row() {  # cpu_row LABEL KEY_PREFIX
    local image api pg curl
    image=$(fmt1 "$(median_of "$2.image")"); api=$(fmt1 "$(median_of "$2.api")"); pg=$(fmt1 "$(median_of "$2.pg")"); curl=$(fmt1 "$(median_of "$2.curl")")
    total=$(printf '%s\n' "$image" "$api" "$pg" "$curl" | awk '$1 != "n/a" { t += $1 } END { printf "%.1f", t }')
    echo "| $1 | $image | $api | $pg | $curl | $total |"
  }
  echo
  echo "CPU time per image, ms (user + system, all threads; medians):"
  echo
  echo "| method | workers / images_loop / vipsthumbnail | jobqueue-api | PostgreSQL (all its processes) | curl | total |"
  echo "|---|---:|---:|---:|---:|---:|"
  for p in $PROCS; do
    for tok in $CONCURRENCY; do
      c=$(concurrency_for "$p" "$tok")
      cpu_row "(a) end to end, $p worker x $c" "cpu.e2e.$p.$c"
      cpu_row "(a) processing only, $p worker x $c" "cpu.proc.$p.$c"
    done
    cpu_row "(a) upload only (API and PostgreSQL)" "cpu.upload.$p"
    cpu_row "(b) bare loop, $p x $(concurrency_for "$p") threads" "cpu.loop.$p"
    cpu_row "(c) vipsthumbnail, $p processes" "cpu.vips.$p"
  done
  cpu_row "(b) bare loop on one core" "cpu.loop1"
  echo
  for p in $PROCS; do
    for tok in $CONCURRENCY; do
      c=$(concurrency_for "$p" "$tok"); id=$p.$c
      echo "Worker stages, $p worker x $c, processing only, wall ms per image (image_processing_seconds and job_duration_seconds from the workers' /metrics, medians):" \
        "decode (header and structure checks included) $(fmt1 "$(median_of "stage.$id.decode")"), thumbnail $(fmt1 "$(median_of "stage.$id.thumbnail")"), encode $(fmt1 "$(median_of "stage.$id.encode")");" \
        "whole handler (reading the input from PostgreSQL included) $(fmt1 "$(median_of "stage.$id.handler")")."
    done
  done
}

goals() {
  local p c tok a b v
  echo
  echo "Goals (issue 9), against these medians:"
  for p in $PROCS; do
    b=$(median_of "loop.$p"); v=$(median_of "vips.$p")
    for tok in $CONCURRENCY; do
      c=$(concurrency_for "$p" "$tok"); a=$(median_of "e2e.$p.$c")
      echo "- $p worker x $c, end to end: (a) >= 90% of (b): $(pct "$a" "$b"), $(awk -v a="$a" -v b="$b" 'BEGIN { print (a >= 0.9 * b) ? "met" : "not met" }');" \
        "(a) >= (c): $(fmt "$a") vs $(fmt "$v") images/s, $(awk -v a="$a" -v v="$v" 'BEGIN { print (a >= v) ? "met" : "not met" }')"
    done
  done
}

inside() {
  tmp=$(mktemp -d)  # global: the EXIT trap runs after this function returns
  API_PID=""; WPIDS=()
  trap 'for p in "${WPIDS[@]}" $API_PID ${POLL_PID:-}; do kill -KILL "$p" 2>/dev/null || true; done; cat "$tmp"/*.log >"$BUILD_DIR/images-last.log" 2>/dev/null || true; rm -rf "$tmp"' EXIT
  unset DATABASE_URL  # the binaries use this cluster's PG* variables
  [[ $(sql "SHOW fsync") == on ]] || fail "fsync is off"
  "$BUILD_DIR/jobqueue" migrate >&2
  PG_PID=$(head -1 "$(sql 'SHOW data_directory')/postmaster.pid")
  coproc POLL { psql -X -At -v ON_ERROR_STOP=1 2>&1; }
  : >"$tmp/results"
  mapfile -t PHOTOS < <(find "$PHOTO_DIR" -name '*.jpg' | sort)
  mkdir -p "$tmp/ref"
  "$BUILD_DIR/bench/images_loop" --size "$BOX" --quality 85 --out "$tmp/ref" "${PHOTOS[@]}" >/dev/null
  REF_SHAS=$(sha256sum "$tmp/ref"/*.jpg | cut -d' ' -f1 | sort -u)
  local load_before r p i order m tok started=$SECONDS
  load_before=$(cut -d' ' -f1 /proc/loadavg)

  # Warm-up, not recorded: the page cache holds the photos, the cluster has
  # its first WAL segments, the binaries are loaded once.
  log "warm-up"
  local keep=$IMAGES; IMAGES=${#PHOTOS[@]}
  queue_run 1 "$(concurrency_for 1 "${CONCURRENCY%% *}")" warm-up; loop_run 1 1 warm warm-up; vips_run 1 warm-up
  IMAGES=$keep; : >"$tmp/results"

  for ((r = 1; r <= RUNS; r++)); do
    for p in $PROCS; do
      # Rotate the order every run, so no method always follows the same one.
      order=(queue loop vips)
      for ((i = 0; i < 3; i++)); do
        m=${order[(i + r - 1) % 3]}
        case $m in
          queue) for tok in $CONCURRENCY; do queue_run "$p" "$(concurrency_for "$p" "$tok")" "$r"; done ;;
          loop) loop_run "$p" "$(concurrency_for "$p")" "loop.$p" "$r" ;;
          vips) vips_run "$p" "$r" ;;
        esac
      done
    done
    loop_run 1 1 loop1 "$r"
    log "run $r/$RUNS done after $((SECONDS - started)) s"
  done

  # The polling session ends with its input.
  local pid_of_poll=${POLL_PID:-}
  if [[ -n ${POLL[1]:-} ]]; then eval "exec ${POLL[1]}>&-"; fi
  if [[ -n $pid_of_poll ]]; then wait "$pid_of_poll" 2>/dev/null || true; fi

  local cmd="" var
  for var in $KNOBS; do [[ $OVERRIDES == *" $var "* ]] && cmd+="$var='${!var}' "; done
  {
    table
    goals
    cpu_table
    echo
    echo "Photographs: $PHOTO_NOTE"
    echo
    echo "Medians of $RUNS runs of $IMAGES images each; $(nproc) cores shared by everything (PostgreSQL $(sql 'SHOW server_version') with fsync=on, the API, the workers, curl)." \
      "(a): jobqueue-api defaults, $SUBMITTERS parallel uploads from one curl; jobqueue-worker with WORKER_CONCURRENCY as shown and its other defaults (batch 10, LISTEN on)." \
      "(b): the same OpenCV 4.6 calls as src/images/pipeline.cpp (imdecode IMREAD_REDUCED_COLOR_8 from the JPEG header size, resize INTER_AREA, imencode JPEG Q85), files read from and thumbnails written to disk, no queue." \
      "(c): vipsthumbnail $(vips --version | cut -d- -f2) --size $BOX -o '%s.jpg[Q=85,strip]', its own thread pool left at its default; its figure includes starting each process once." \
      "Peak RSS: VmHWM of each process before it stops (vipsthumbnail: GNU time's maximum RSS), the largest of the processes; the API's figure is over one run's uploads."
    echo
    echo "Reproduce: \`${cmd}bash bench/images.sh${QUICK_FLAG}\`; $(date -u '+%Y-%m-%d %H:%M UTC'); jobqueue $JQ_REV;" \
      "1-min load average $load_before before the runs, $(cut -d' ' -f1 /proc/loadavg) after (this script's own runs included)."
  } | if [[ -n ${FULL_TABLE:-} ]]; then tee "$RESULTS"; else cat; fi
}

if [[ ${1:-} == --inside ]]; then
  inside
  exit
fi

# ---------------------------------------------------------------------------
# Outside: options, Debian packages, photographs, build, cluster.

bench_options images.sh "$KNOBS" "$@"
if [[ -n $QUICK_FLAG ]]; then IMAGES=${IMAGES:-8}; RUNS=${RUNS:-1}; else IMAGES=${IMAGES:-40}; RUNS=${RUNS:-3}; fi
PROCS=${PROCS:-"1 2"}
CONCURRENCY=${CONCURRENCY:-auto}
SUBMITTERS=${SUBMITTERS:-4}
CORES=$(nproc)
FULL_TABLE=""
[[ -z $QUICK_FLAG && $OVERRIDES == " " ]] && FULL_TABLE=1
export IMAGES RUNS PROCS CONCURRENCY SUBMITTERS CORES BUILD_DIR QUICK_FLAG OVERRIDES FULL_TABLE

# Debian packages (as root, or with sudo), like scripts/setup.sh; the
# photographs come from the two lomiri-wallpapers packages.
packages=(libvips-tools time curl iproute2 postgresql postgresql-client cmake build-essential)
for s in "${SOURCES[@]}"; do packages+=("${s%%:*}"); done
missing=()
for p in $(printf '%s\n' "${packages[@]}" | sort -u); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v pg_virtualenv >/dev/null || fail "needs pg_virtualenv (postgresql-common)"

# jobqueue, jobqueue-api, jobqueue-worker and images_loop, Release.
if [[ ${NO_BUILD:-0} == 1 ]]; then
  log "NO_BUILD=1: using the binaries in $BUILD_DIR as they are"
else
  log "building (Release) in $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DJOBQUEUE_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target jobqueue jobqueue-api jobqueue-worker images_loop >/dev/null
fi
for b in jobqueue jobqueue-api jobqueue-worker bench/images_loop; do
  [[ -x $BUILD_DIR/$b ]] || fail "no $BUILD_DIR/$b"
done
JQ_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- src CMakeLists.txt migrations 2>/dev/null || JQ_REV+=" with uncommitted changes in src/"
[[ ${NO_BUILD:-0} != 1 ]] || JQ_REV="binaries in $BUILD_DIR as they were (tree at $JQ_REV)"
export JQ_REV

# The photographs, made once: each source scaled to cover 4000x3000 and
# centre-cropped (libvips thumbnail, Lanczos), saved as baseline JPEG quality
# 90 with 4:2:0 chroma (as cameras and phones write them), no metadata;
# once as is and once mirrored, so the set has 8 distinct files.
PHOTO_DIR=$BUILD_DIR/images-photos
if [[ $(find "$PHOTO_DIR" -name '*.jpg' 2>/dev/null | wc -l) != $((2 * ${#SOURCES[@]})) ]]; then
  log "preparing the photographs in $PHOTO_DIR"
  rm -rf "$PHOTO_DIR"; mkdir -p "$PHOTO_DIR"
  for s in "${SOURCES[@]}"; do
    src=${s#*:}; name=$(basename "$src" .jpg)
    [[ -f $src ]] || fail "$src missing (package ${s%%:*})"
    vips thumbnail "$src" "$PHOTO_DIR/$name.v" "$PHOTO_W" --height "$PHOTO_H" --crop centre --size both
    vips jpegsave "$PHOTO_DIR/$name.v" "$PHOTO_DIR/$name.jpg" --Q 90 --strip --subsample-mode on
    vips flip "$PHOTO_DIR/$name.v" "$PHOTO_DIR/$name.mirrored.v" horizontal
    vips jpegsave "$PHOTO_DIR/$name.mirrored.v" "$PHOTO_DIR/$name-mirrored.jpg" --Q 90 --strip --subsample-mode on
    rm -f "$PHOTO_DIR"/*.v
  done
fi
names=""
for s in "${SOURCES[@]}"; do
  src=${s#*:}
  names+="${names:+, }$(basename "$src") ($(vipsheader -f width "$src")x$(vipsheader -f height "$src"), ${s%%:*})"
done
mean_kb=$(find "$PHOTO_DIR" -name '*.jpg' -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f", s / NR / 1000 }')
PHOTO_NOTE="real photographs from Debian packages: $names; each scaled to cover ${PHOTO_W}x${PHOTO_H} and centre-cropped (12 MP; vips thumbnail --crop centre), saved as JPEG Q90 4:2:0 without metadata, as is and mirrored: 8 distinct files of $mean_kb kB on average, used in turn."
export PHOTO_DIR PHOTO_NOTE

# One throwaway cluster for the whole run; fsync on because users run durable.
# -t: in a temporary directory, so it never collides with another cluster.
pg_virtualenv -t -o fsync=on bash "$ROOT/bench/images.sh" --inside
