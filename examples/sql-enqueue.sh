#!/usr/bin/env bash
# Enqueueing from SQL inside an application's own transaction (jobqueue.enqueue): a rolled-back transaction leaves no job, a committed one a job that a worker runs.
#
#   bash examples/sql-enqueue.sh
#
# An application writes an order and enqueues the job that follows it up in
# the same transaction, so there is never an order without its job nor a
# job for an order that was never written. Needs psql and DATABASE_URL
# (jobqueue dev's env file sets it).
source "$(dirname "$0")/lib.sh"

command -v psql >/dev/null || die "needs psql (bash scripts/setup.sh installs postgresql-client)"
[[ -n ${DATABASE_URL:-} ]] || die "needs DATABASE_URL (jobqueue dev's env file sets it)"
sql() { psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 "$@"; }

# The application's own table, in a schema of its own.
sql <<'SQL'
CREATE SCHEMA IF NOT EXISTS example_shop;
CREATE TABLE IF NOT EXISTS example_shop.orders (
  id         bigserial PRIMARY KEY,
  reference  text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);
SQL

# count_for REF: orders and jobs that carry the reference.
count_for() {
  sql -At -v ref="$1" <<'SQL'
SELECT (SELECT count(*) FROM example_shop.orders WHERE reference = :'ref') || ' order(s), '
    || (SELECT count(*) FROM jobqueue.jobs WHERE payload->>'order_reference' = :'ref') || ' job(s)';
SQL
}

# transaction REF END: the order and its job in one transaction, ended by
# END (ROLLBACK or COMMIT); prints the statements and the job id.
transaction() {
  sql -e -v ref="$1" <<SQL
BEGIN;
INSERT INTO example_shop.orders (reference) VALUES (:'ref');
SELECT jobqueue.enqueue('noop', jsonb_build_object('order_reference', :'ref'::text),
                        idempotency_key => 'order-confirmation:' || :'ref') AS job_id;
$2;
SQL
}

ref="order-$(date +%s)-$$"
echo "== 1. the transaction rolls back (say, the payment failed)"
transaction "$ref-a" ROLLBACK
after_rollback=$(count_for "$ref-a")
echo "-> $after_rollback"
[[ $after_rollback == "0 order(s), 0 job(s)" ]] || die "a rolled-back transaction left $after_rollback"

echo
echo "== 2. the transaction commits"
transaction "$ref-b" COMMIT
after_commit=$(count_for "$ref-b")
echo "-> $after_commit"
[[ $after_commit == "1 order(s), 1 job(s)" ]] || die "a committed transaction left $after_commit"
id=$(sql -At -v ref="$ref-b" <<'SQL'
SELECT id FROM jobqueue.jobs WHERE payload->>'order_reference' = :'ref';
SQL
)
# Workers were notified at commit; the job is now as visible to the API as
# one submitted over REST.
job=$(wait_terminal "$id")
echo "-> job $id $(jq -r .state <<<"$job"), processed by $(jq -r .processed_by <<<"$job") (GET /v1/jobs/$id)"
[[ $(jq -r .state <<<"$job") == succeeded ]] || die "job $id did not succeed: $job"
