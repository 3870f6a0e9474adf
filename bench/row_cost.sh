#!/usr/bin/env bash
# Row-cost experiment: what one job costs PostgreSQL (WAL bytes, server CPU)
# under candidate table designs, each driven the same way by pgbench: 2
# clients, batches of 100, one statement per batch that completes the
# previous batch and claims the next (as jobqueue-worker does). N no-op jobs
# are inserted, VACUUM ANALYZE + CHECKPOINT (untimed), then drained; the
# figures cover the drain only (claim + complete, not enqueue). Design input
# for the scale issue; see bench/README.md, "Row cost".
#
#   bash bench/row_cost.sh
#
# Variants (VARIANTS, default: all below):
#   current           the shipped design: one table, every state in place
#   counted           current plus what migration 0004 adds: an index on
#                     finished rows (state, queue, kind, id) and statement
#                     triggers that append count deltas per (queue, kind, state)
#   delete            the same, but a job is deleted when it completes
#                     (graphile-worker's model: no history)
#   history           live table + a history table (partitioned by
#                     finished_at) the job moves to when it completes, with
#                     listing indexes (id), (queue, id), (kind, id) and (id)
#                     WHERE state <> 'succeeded', and per-second counters
#   history-min       the same with only (id) on the history
#   history-grp       the history with (id) and (state, queue, kind, id): the
#                     same listing index as 'counted', for a like-for-like
#                     comparison of moving the row against updating it
#   history-hot       history, with a claim index that does not mention
#                     state and no lease index, so the claim is a HOT update
#   solid             Solid Queue's shape: a ready table and a claimed table
#                     beside jobs, which is updated in place
#   solid-lean        solid without marking the job running at claim
# Suffixes: -ff50 (fillfactor 50 on the live table, so updates stay on their
# page), -reorder (columns that never change first, so a same-page update
# logs only the changed tail), e.g. history-min-reorder-ff50.
# Knobs: N (100000), B (100: jobs per statement), RUNS (3; medians), VARIANTS, WALDUMP=1 (print
# pg_waldump --stats=record for each run).
set -euo pipefail
N=${N:-100000}; K=2; B=${B:-100}; RUNS=${RUNS:-3}
VARIANTS=${VARIANTS:-"current current-reorder-ff50 delete delete-reorder-ff50 history history-min history-min-reorder-ff50 history-hot solid solid-lean-ff50"}
PGBIN=/usr/lib/postgresql/15/bin
[[ -x $PGBIN/pgbench ]] && export PATH=$PGBIN:$PATH
if [[ ${1:-} != --inside ]]; then
  command -v pg_virtualenv >/dev/null || { echo "row_cost.sh: needs pg_virtualenv (postgresql-common)" >&2; exit 1; }
  export N B RUNS VARIANTS WALDUMP
  exec pg_virtualenv -t -o fsync=on bash "$0" --inside
fi
export PGOPTIONS="-c client_min_messages=warning"
sql() { psql -X -At -v ON_ERROR_STOP=1 -c "$1"; }
DATA=$(sql "SHOW data_directory"); HZ=$(getconf CLK_TCK)
server_ticks() {
  local pm; pm=$(head -1 "$DATA/postmaster.pid")
  { sed 's/^.*) //' "/proc/$pm/stat" | awk '{ print $12 + $13 + $14 + $15 }'
    for p in $(ps -o pid= --ppid "$pm"); do sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }'; done
  } | awk '{ t += $1 } END { print t + 0 }'
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

schema_solid() {  # ready and claimed tables beside jobs; jobs updated in place (HOT)
  local ff=$1
  sql "DROP SCHEMA IF EXISTS jq CASCADE" >/dev/null
  psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE SCHEMA jq;
CREATE TYPE jq.job_state AS ENUM ('queued','running','succeeded','dead','cancelled');
CREATE TABLE jq.jobs (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  queue text NOT NULL DEFAULT 'default', kind text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
  state jq.job_state NOT NULL DEFAULT 'queued', priority smallint NOT NULL DEFAULT 0,
  run_at timestamptz NOT NULL DEFAULT now(), attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL DEFAULT 25, lease_owner text,
  idempotency_key text, last_error text, result jsonb,
  created_at timestamptz NOT NULL DEFAULT now(), started_at timestamptz, finished_at timestamptz
) WITH (fillfactor = $ff);
CREATE INDEX ON jq.jobs (queue, id);
CREATE INDEX ON jq.jobs (kind, id);
CREATE TABLE jq.ready (job_id bigint PRIMARY KEY, queue text NOT NULL, priority smallint NOT NULL, run_at timestamptz NOT NULL);
CREATE INDEX ON jq.ready (queue, priority, run_at, job_id);
CREATE TABLE jq.claimed (job_id bigint PRIMARY KEY, lease_token uuid NOT NULL, lease_expires_at timestamptz NOT NULL,
  owner text NOT NULL, attempt integer NOT NULL);
CREATE INDEX ON jq.claimed (lease_expires_at);
CREATE TABLE jq.counts (bucket timestamptz NOT NULL, queue text NOT NULL, state jq.job_state NOT NULL,
  slot smallint NOT NULL, jobs bigint NOT NULL, PRIMARY KEY (bucket, queue, state, slot));
SQL
}

schema() {  # schema VARIANT
  local v=$1
  if [[ $v == solid* ]]; then schema_solid "$([[ $v == *-ff50 ]] && echo 50 || echo 100)"; return; fi
  local ff=100 claim_pred="WHERE state = 'queued'" lease="CREATE INDEX ON jq.jobs (lease_expires_at) WHERE state = 'running';"
  local hidx="CREATE INDEX ON jq.history (queue, id); CREATE INDEX ON jq.history (kind, id); CREATE INDEX ON jq.history (id) WHERE state <> 'succeeded';"
  local extra=""
  local columns="  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  queue text NOT NULL DEFAULT 'default', kind text NOT NULL, payload jsonb NOT NULL DEFAULT '{}',
  state jq.job_state NOT NULL DEFAULT 'queued', priority smallint NOT NULL DEFAULT 0,
  run_at timestamptz NOT NULL DEFAULT now(), attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL DEFAULT 25, lease_owner text, lease_token uuid,
  lease_expires_at timestamptz, idempotency_key text, last_error text, result jsonb,
  created_at timestamptz NOT NULL DEFAULT now(), started_at timestamptz, finished_at timestamptz"
  if [[ $v == *-reorder* ]]; then
    # What never changes first, so a same-page update logs only the tail.
    columns="  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  queue text NOT NULL DEFAULT 'default', kind text NOT NULL, priority smallint NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL DEFAULT 25, created_at timestamptz NOT NULL DEFAULT now(),
  idempotency_key text, payload jsonb NOT NULL DEFAULT '{}', run_at timestamptz NOT NULL DEFAULT now(),
  state jq.job_state NOT NULL DEFAULT 'queued', attempts integer NOT NULL DEFAULT 0,
  lease_owner text, lease_token uuid, lease_expires_at timestamptz, started_at timestamptz,
  finished_at timestamptz, last_error text, result jsonb"
    v=${v/-reorder/}
  fi
  [[ $v != *-ff50 ]] || ff=50
  v=${v%-ff50}
  case $v in
    current | delete) extra="CREATE INDEX ON jq.jobs (finished_at) WHERE state IN ('succeeded', 'dead', 'cancelled');" ;;
    counted) extra="CREATE INDEX ON jq.jobs (finished_at) WHERE state IN ('succeeded', 'dead', 'cancelled');
CREATE INDEX ON jq.jobs (state, queue, kind, id) WHERE state IN ('succeeded', 'dead', 'cancelled');
CREATE TABLE jq.finished_counts (queue text NOT NULL, kind text NOT NULL, state jq.job_state NOT NULL, jobs bigint NOT NULL);
CREATE FUNCTION jq.count_update() RETURNS trigger LANGUAGE plpgsql AS \$f\$
BEGIN
  INSERT INTO jq.finished_counts (queue, kind, state, jobs)
  SELECT queue, kind, state, sum(d) FROM (
    SELECT queue, kind, state, 1 AS d FROM new_rows WHERE state IN ('succeeded', 'dead', 'cancelled')
    UNION ALL
    SELECT queue, kind, state, -1 FROM old_rows WHERE state IN ('succeeded', 'dead', 'cancelled')) AS c
  GROUP BY queue, kind, state HAVING sum(d) <> 0;
  RETURN NULL;
END \$f\$;
CREATE TRIGGER count_update AFTER UPDATE ON jq.jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION jq.count_update();" ;;
    history-min) hidx="" ;;
    history-grp) hidx="CREATE INDEX ON jq.history (state, queue, kind, id);" ;;
    history-hot) ff=50; claim_pred=""; lease="" ;;
  esac
  sql "DROP SCHEMA IF EXISTS jq CASCADE" >/dev/null
  psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE SCHEMA jq;
CREATE TYPE jq.job_state AS ENUM ('queued','running','succeeded','dead','cancelled');
CREATE TABLE jq.jobs (
$columns
) WITH (fillfactor = $ff);
CREATE INDEX ON jq.jobs (queue, priority, run_at, id) $claim_pred;
$lease
$extra
CREATE TABLE jq.history (
  id bigint NOT NULL, queue text NOT NULL, kind text NOT NULL, payload jsonb NOT NULL,
  state jq.job_state NOT NULL, priority smallint NOT NULL, run_at timestamptz NOT NULL,
  attempts integer NOT NULL, max_attempts integer NOT NULL, lease_owner text,
  idempotency_key text, last_error text, result jsonb, created_at timestamptz NOT NULL,
  started_at timestamptz, finished_at timestamptz NOT NULL
) PARTITION BY RANGE (finished_at);
CREATE TABLE jq.history_today PARTITION OF jq.history FOR VALUES FROM ('2000-01-01') TO ('2100-01-01');
CREATE INDEX ON jq.history (id);
$hidx
CREATE TABLE jq.counts (bucket timestamptz NOT NULL, queue text NOT NULL, state jq.job_state NOT NULL,
  slot smallint NOT NULL, jobs bigint NOT NULL, PRIMARY KEY (bucket, queue, state, slot));
SQL
}

claim_sql() {  # the claim part, shared
  cat <<'SQL'
candidates AS (
  SELECT c.id, c.priority, c.run_at
  FROM (SELECT DISTINCT unnest(:queues::text[])) AS q(name)
  CROSS JOIN LATERAL (
    SELECT id, priority, run_at FROM jq.jobs
    WHERE state = 'queued' AND queue = q.name AND run_at <= now()
    ORDER BY priority, run_at, id LIMIT :batch FOR UPDATE SKIP LOCKED) AS c
),
due AS (SELECT id FROM candidates ORDER BY priority, run_at, id LIMIT :batch),
claimed AS (
  UPDATE jq.jobs AS j
  SET state = 'running', attempts = j.attempts + 1, lease_owner = :worker,
      lease_token = gen_random_uuid(), lease_expires_at = now() + make_interval(secs => :lease::float8),
      started_at = now()
  FROM due WHERE j.id = due.id
  RETURNING j.id, j.lease_token
)
SELECT coalesce(array_agg(id), (ARRAY[])::bigint[])::text AS ids,
       coalesce(array_agg(lease_token), (ARRAY[])::uuid[])::text AS toks
FROM claimed
\gset
SQL
}

solid_script() {  # solid_script MARK_RUNNING
  local mark=""
  [[ $1 == 1 ]] && mark="marked AS (UPDATE jq.jobs j SET state = 'running', started_at = now() FROM claimed c WHERE j.id = c.job_id RETURNING 1),"
  cat <<SQL
WITH done AS (
  DELETE FROM jq.claimed AS c USING unnest(:ids::bigint[], :toks::uuid[]) AS x(id, token)
  WHERE c.job_id = x.id AND c.lease_token = x.token
  RETURNING c.job_id, c.attempt, c.owner
),
completed AS (
  UPDATE jq.jobs AS j SET state = 'succeeded', attempts = d.attempt, lease_owner = d.owner,
         finished_at = now(), result = NULL
  FROM done AS d WHERE j.id = d.job_id
  RETURNING j.queue, j.state
),
counted AS (
  INSERT INTO jq.counts (bucket, queue, state, slot, jobs)
  SELECT date_trunc('second', now()), queue, state, pg_backend_pid() % 16, count(*) FROM completed GROUP BY queue, state
  ON CONFLICT (bucket, queue, state, slot) DO UPDATE SET jobs = jq.counts.jobs + excluded.jobs
  RETURNING 1
),
picked AS (
  SELECT r.job_id FROM (SELECT DISTINCT unnest(:queues::text[])) AS q(name)
  CROSS JOIN LATERAL (
    SELECT job_id, priority, run_at FROM jq.ready
    WHERE queue = q.name AND run_at <= now()
    ORDER BY priority, run_at, job_id LIMIT :batch FOR UPDATE SKIP LOCKED) AS r
),
taken AS (
  DELETE FROM jq.ready AS r USING picked AS p WHERE r.job_id = p.job_id RETURNING r.job_id
),
claimed AS (
  INSERT INTO jq.claimed (job_id, lease_token, lease_expires_at, owner, attempt)
  SELECT t.job_id, gen_random_uuid(), now() + make_interval(secs => :lease::float8), :worker, j.attempts + 1
  FROM taken AS t JOIN jq.jobs AS j ON j.id = t.job_id
  RETURNING job_id, lease_token
),
$mark
out AS (SELECT c.job_id, c.lease_token, j.payload FROM claimed AS c JOIN jq.jobs AS j ON j.id = c.job_id)
SELECT coalesce(array_agg(job_id), (ARRAY[])::bigint[])::text AS ids,
       coalesce(array_agg(lease_token), (ARRAY[])::uuid[])::text AS toks
FROM out
\gset
SQL
}

script() {  # script VARIANT > file
  local v=${1/-reorder/}
  case ${v%-ff50} in
    solid) solid_script 1; return ;;
    solid-lean) solid_script 0; return ;;
    current | counted)
      cat <<'SQL'
WITH completed AS (
  UPDATE jq.jobs AS j
  SET state = 'succeeded', result = NULL, finished_at = now(), lease_token = NULL, lease_expires_at = NULL
  FROM unnest(:ids::bigint[], :toks::uuid[]) AS c(id, token)
  WHERE j.id = c.id AND j.lease_token = c.token AND j.state = 'running'
  RETURNING j.id
),
SQL
      ;;
    delete)
      cat <<'SQL'
WITH completed AS (
  DELETE FROM jq.jobs AS j
  USING unnest(:ids::bigint[], :toks::uuid[]) AS c(id, token)
  WHERE j.id = c.id AND j.lease_token = c.token AND j.state = 'running'
  RETURNING j.id
),
SQL
      ;;
    history*)
      cat <<'SQL'
WITH done AS (
  DELETE FROM jq.jobs AS j
  USING unnest(:ids::bigint[], :toks::uuid[]) AS c(id, token)
  WHERE j.id = c.id AND j.lease_token = c.token AND j.state = 'running'
  RETURNING j.*
),
moved AS (
  INSERT INTO jq.history (id, queue, kind, payload, state, priority, run_at, attempts, max_attempts,
                          lease_owner, idempotency_key, last_error, result, created_at, started_at, finished_at)
  SELECT id, queue, kind, payload, 'succeeded', priority, run_at, attempts, max_attempts,
         lease_owner, idempotency_key, last_error, NULL, created_at, started_at, now()
  FROM done
  RETURNING queue, state
),
counted AS (
  INSERT INTO jq.counts (bucket, queue, state, slot, jobs)
  SELECT date_trunc('second', now()), queue, state, pg_backend_pid() % 16, count(*) FROM moved GROUP BY queue, state
  ON CONFLICT (bucket, queue, state, slot) DO UPDATE SET jobs = jq.counts.jobs + excluded.jobs
  RETURNING 1
),
SQL
      ;;
  esac
  claim_sql
}

: >"$tmp/results"
for ((r = 1; r <= RUNS; r++)); do
  for v in $VARIANTS; do
    schema "$v"
    sql "INSERT INTO jq.jobs (kind) SELECT 'noop' FROM generate_series(1, $N)" >/dev/null
    [[ $v != solid* ]] || sql "INSERT INTO jq.ready SELECT id, queue, priority, run_at FROM jq.jobs" >/dev/null
    sql "VACUUM ANALYZE" >/dev/null; sql "CHECKPOINT" >/dev/null
    script "$v" >"$tmp/$v.sql"
    wal0=$(sql "SELECT pg_current_wal_lsn()"); t0=$(server_ticks); s0=$SECONDS
    pgbench -n -M prepared -c $K -j $K -t $((N / (K * B) + 1)) -f "$tmp/$v.sql" \
      -D "queues={default}" -D batch=$B -D worker=w -D lease=300 -D "ids={}" -D "toks={}" >"$tmp/pgb.out" 2>&1 ||
      { cat "$tmp/pgb.out"; exit 1; }
    ticks=$(($(server_ticks) - t0))
    wal=$(sql "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$wal0')")
    if [[ -n ${WALDUMP:-} ]]; then
      wal1=$(sql "SELECT pg_current_wal_lsn()"); sql "SELECT pg_switch_wal()" >/dev/null
      echo "== $v"; "$PGBIN/pg_waldump" --stats=record -p "$DATA/pg_wal" -s "$wal0" -e "$wal1" 2>/dev/null | awk 'NR<=2 || $NF+0 > 0.5 || /Total/' | sort -t'(' -k2 | tail -25
    fi
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$tmp/pgb.out")
    if [[ $v == solid* ]]; then left=$(sql "SELECT count(*) FROM jq.ready"); else left=$(sql "SELECT count(*) FROM jq.jobs WHERE state = 'queued'"); fi
    echo "$v $((wal / N)) $(awk -v t=$ticks -v hz=$HZ -v n=$N 'BEGIN{printf "%.1f", t/hz/n*1e6}') $(awk -v t=$tps -v b=$B 'BEGIN{printf "%.0f", t*b}') left=$left" | tee -a "$tmp/results"
  done
done
echo "variant  WAL_B/job  srv_cpu_us/job  jobs/s (medians of $RUNS; $B jobs per statement)"
for v in $VARIANTS; do
  printf '%-12s %8s %8s %8s\n' "$v" \
    "$(awk -v v=$v '$1==v{print $2}' "$tmp/results" | sort -g | awk '{a[NR]=$1}END{print a[int((NR+1)/2)]}')" \
    "$(awk -v v=$v '$1==v{print $3}' "$tmp/results" | sort -g | awk '{a[NR]=$1}END{print a[int((NR+1)/2)]}')" \
    "$(awk -v v=$v '$1==v{print $4}' "$tmp/results" | sort -g | awk '{a[NR]=$1}END{print a[int((NR+1)/2)]}')"
done
