#!/usr/bin/env bash
# Runs exactly the query text of a rendered ScaledObject against a freshly
# migrated PostgreSQL that holds known jobs, and checks the number KEDA would
# read: the due queued jobs of the queues the workers serve. Also checks that
# the depth agrees with the job_queue_depth metric's statement
# (src/core/sql/api.sql, api_due_depth) and that it reads the claim index,
# not the table.
#   bash tests/k8s/keda-query.sh RENDERED.yaml [JOBQUEUE_BIN]
# Needs pg_virtualenv (postgresql-common), psql and node; the cluster is
# dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."

rendered=${1:?usage: keda-query.sh RENDERED.yaml [JOBQUEUE_BIN]}
bin=${2:-build/jobqueue}

if [ -z "${KEDA_QUERY_INSIDE:-}" ]; then
  for tool in pg_virtualenv psql node; do
    command -v "$tool" >/dev/null 2>&1 || { echo "keda-query: '$tool' is not installed (scripts/setup.sh installs PostgreSQL; node: apt-get install nodejs)" >&2; exit 2; }
  done
  [ -x "$bin" ] || { echo "keda-query: $bin is missing; build it (cmake --build build --target jobqueue)" >&2; exit 2; }
  export KEDA_QUERY_INSIDE=1
  # pg_virtualenv prints the server log when the command fails: keep it.
  exec pg_virtualenv bash "$0" "$rendered" "$bin"
fi

fail() { echo "keda-query FAILED: $*" >&2; exit 1; }
query=$(node tests/k8s/extract.mjs keda-query "$rendered")
served=$(node tests/k8s/extract.mjs worker-env "$rendered" WORKER_QUEUES)
echo "keda-query: query from $rendered: $query"
echo "keda-query: WORKER_QUEUES=$served"

env -u DATABASE_URL "$bin" migrate >/dev/null || fail "jobqueue migrate failed"
psql_() { psql -X -v ON_ERROR_STOP=1 -q -At "$@"; }

# Known jobs on every served queue and on one the workers do not serve:
# per queue 9 due queued (2 of them retried after a failure), 3 queued in the future, 2 running (one with its
# lease expired, still not queued), 4 succeeded, 1 dead, 1 cancelled; plus
# 20,000 finished jobs so that reading the table would show in the plan.
IFS=',' read -r -a queues <<<"$served"
sql_queues=""
for q in "${queues[@]}"; do sql_queues+="${sql_queues:+,}'$(echo "$q" | xargs)'"; done
psql_ <<SQL || fail "could not insert the test jobs"
WITH queues(name) AS (SELECT unnest(ARRAY[$sql_queues, 'not-served-by-workers']))
INSERT INTO jobqueue.jobs (queue, kind, state, run_at, attempts, lease_owner, lease_token, lease_expires_at, started_at, finished_at)
SELECT q.name, 'noop', s.state::jobqueue.job_state, now() + s.run_in, s.attempts,
       s.owner, CASE WHEN s.state = 'running' THEN gen_random_uuid() END,
       CASE WHEN s.state = 'running' THEN now() + s.lease_in END,
       CASE WHEN s.attempts > 0 THEN now() - interval '1 minute' END,
       CASE WHEN s.state IN ('succeeded', 'dead', 'cancelled') THEN now() - interval '1 minute' END
FROM queues AS q
CROSS JOIN LATERAL (VALUES
  ('queued',    interval '-1 minute', 0, NULL, NULL::interval, 7),
  ('queued',    interval '-5 seconds', 3, 'w-1', NULL, 2),
  ('queued',    interval '1 hour',    0, NULL, NULL, 3),
  ('running',   interval '-2 minute', 1, 'w-1', interval '5 minutes', 1),
  ('running',   interval '-2 minute', 1, 'w-2', interval '-1 minute', 1),
  ('succeeded', interval '-1 hour',   1, 'w-1', NULL, 4),
  ('dead',      interval '-1 hour',  25, 'w-2', NULL, 1),
  ('cancelled', interval '-1 hour',   0, NULL, NULL, 1)
) AS s(state, run_in, attempts, owner, lease_in, n)
CROSS JOIN LATERAL generate_series(1, s.n);

INSERT INTO jobqueue.jobs (queue, kind, state, run_at, attempts, lease_owner, started_at, finished_at)
SELECT 'default', 'noop', 'succeeded', now() - interval '1 day', 1, 'w-old', now() - interval '1 day', now() - interval '1 day'
FROM generate_series(1, 20000);
ANALYZE jobqueue.jobs;
SQL

due_per_queue=9
expected=$((due_per_queue * ${#queues[@]}))
got=$(psql_ -c "$query") || fail "the ScaledObject's query failed: $query"
[ "$got" = "$expected" ] || fail "the ScaledObject's query returned '$got', expected $expected ($due_per_queue due queued jobs on each of: $served)"
echo "keda-query: the rendered query returns $got, as expected"

all=$(psql_ -c "SELECT jobqueue.scaling_depth()")
[ "$all" = "$((expected + due_per_queue))" ] || fail "jobqueue.scaling_depth() (all queues) returned $all, expected $((expected + due_per_queue))"

# The metric's statement, run as the API runs it; summed over the served queues.
metric_sql=$(awk '/^-- name: /{on = ($0 == "-- name: api_due_depth"); next} on && !/^[ \t]*--/ && NF {print}' src/core/sql/api.sql | sed '$ s/;[ \t]*$//')
[ -n "$metric_sql" ] || fail "statement api_due_depth not found in src/core/sql/api.sql"
metric=$(psql_ -c "SELECT coalesce(sum(depth), 0) FROM ($metric_sql) AS m WHERE queue = ANY (ARRAY[$sql_queues])")
[ "$metric" = "$got" ] || fail "job_queue_depth's statement counts $metric on the served queues, the ScaledObject's query $got: the two definitions differ"
echo "keda-query: job_queue_depth's statement agrees ($metric)"

# The plan of the statement inside the function, through auto_explain.
plan=$(psql -X -v ON_ERROR_STOP=1 -At 2>&1 <<SQL
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_level = notice;
SET client_min_messages = notice;
$query;
SQL
) || fail "could not explain the query: $plan"
echo "$plan" | grep -E "Scan|Index" | sed "s/^/keda-query:   plan: /"
grep -q 'jobs_claim_idx' <<<"$plan" || fail "the depth does not read jobs_claim_idx; plan: $plan"
if grep -q 'Seq Scan on jobs' <<<"$plan"; then fail "the depth scans the jobs table; plan: $plan"; fi
echo "keda-query: reads jobs_claim_idx, never the table"
echo "keda-query: ok"
