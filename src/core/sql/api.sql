-- Read statements of the REST API (src/api/, through core/job_listing.cpp).
-- Timestamps leave the database as RFC 3339 text in UTC with microseconds
-- ("2026-11-23T15:35:01.123456Z"), whatever the session's TimeZone and
-- DateStyle, so the API never reformats them.

-- name: api_get_jobs
-- The jobs whose ids are in $1 (bigint[]), in no particular order; ids that
-- do not exist are skipped.
SELECT id, queue, kind, payload, state::text AS state, priority, attempts, max_attempts,
       to_char(run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS run_at,
       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
       to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS started_at,
       to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS finished_at,
       lease_owner,
       to_char(lease_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS lease_expires_at,
       idempotency_key, last_error, result
FROM jobqueue.jobs
WHERE id = ANY($1::bigint[]);

-- name: api_list_jobs
-- One page of jobs, newest first by id (keyset pagination: a page never
-- shifts when jobs are inserted meanwhile, since new ids are larger).
-- $1 state (NULL: any), $2 queue (NULL: any), $3 kind (NULL: any),
-- $4 only ids below this one (NULL: from the newest), $5 at most this many.
-- The id bound is written with coalesce rather than `$4 IS NULL OR`, so that
-- even a cached generic plan starts its backward primary-key scan at $4
-- instead of filtering its way down from the newest row.
SELECT id, queue, kind, payload, state::text AS state, priority, attempts, max_attempts,
       to_char(run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS run_at,
       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
       to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS started_at,
       to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS finished_at,
       lease_owner,
       to_char(lease_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS lease_expires_at,
       idempotency_key, last_error, result
FROM jobqueue.jobs
WHERE id < coalesce($4::bigint, 9223372036854775807)
  AND ($1::jobqueue.job_state IS NULL OR state = $1::jobqueue.job_state)
  AND ($2::text IS NULL OR queue = $2::text)
  AND ($3::text IS NULL OR kind = $3::text)
ORDER BY id DESC
LIMIT $5;

-- name: api_due_depth
-- Due queued jobs per queue: the job_queue_depth gauge. Reads only
-- jobs_claim_idx (partial on state = 'queued'), so its cost follows the
-- backlog, never the millions of finished rows. Queues with nothing due are
-- absent.
SELECT queue, count(*) AS depth
FROM jobqueue.jobs
WHERE state = 'queued' AND run_at <= now()
GROUP BY queue;

-- name: api_now_plus_seconds
-- The database's now() plus each of the delays in $1 (float8[], seconds), as
-- timestamptz text in the order given: run_at for delay_seconds.
SELECT now() + make_interval(secs => d) AS run_at
FROM unnest($1::float8[]) WITH ORDINALITY AS t(d, ord)
ORDER BY ord;
