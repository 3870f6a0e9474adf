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
-- However many finished jobs are kept, a page costs the newest 5,000 rows
-- at most, or else the live backlog, for the queued and running jobs, plus
-- $5 entries of jobs_finished_group_idx per (state, queue, kind) group that
-- matches the filters and has jobs (from finished_counts). The plan does
-- not depend on the parameters, so a cached generic plan is as good as a
-- custom one.
WITH recent AS (
  -- Live rows are usually the newest: first look among the newest 5,000
  -- rows below the cursor. Every live match in that window is found, and
  -- any row outside it is older, so $5 matches here are the answer.
  SELECT r.id FROM (
    SELECT id, state, queue, kind FROM jobqueue.jobs
    WHERE id < coalesce($4::bigint, 9223372036854775807)
    ORDER BY id DESC
    LIMIT 5000
  ) AS r
  WHERE (r.state = 'queued' OR r.state = 'running')
    AND ($1::jobqueue.job_state IS NULL OR r.state = $1::jobqueue.job_state)
    AND ($2::text IS NULL OR r.queue = $2::text)
    AND ($3::text IS NULL OR r.kind = $3::text)
  ORDER BY r.id DESC
  LIMIT $5
),
all_live AS (
  -- Otherwise every live row, through the two partial indexes that hold
  -- exactly them (cost: the backlog). OFFSET 0 keeps the ORDER BY out of
  -- the scan, or the planner may walk the primary key backwards through
  -- the whole history instead (seen: 3.5 s over 10 million kept jobs).
  SELECT l.id FROM (
    SELECT id FROM jobqueue.jobs
    WHERE (state = 'queued' OR state = 'running')
      AND id < coalesce($4::bigint, 9223372036854775807)
      AND ($1::jobqueue.job_state IS NULL OR state = $1::jobqueue.job_state)
      AND ($2::text IS NULL OR queue = $2::text)
      AND ($3::text IS NULL OR kind = $3::text)
    OFFSET 0
  ) AS l
  ORDER BY l.id DESC
  LIMIT $5
),
live AS (
  SELECT id FROM recent WHERE (SELECT count(*) FROM recent) >= $5
  UNION ALL
  SELECT id FROM all_live WHERE (SELECT count(*) FROM recent) < $5
),
finished_groups AS (
  SELECT state, queue, kind FROM jobqueue.finished_counts
  WHERE ($1::jobqueue.job_state IS NULL OR state = $1::jobqueue.job_state)
    AND ($2::text IS NULL OR queue = $2::text)
    AND ($3::text IS NULL OR kind = $3::text)
  GROUP BY state, queue, kind
  HAVING sum(jobs) > 0
),
finished AS (
  SELECT f.id
  FROM finished_groups AS g
  CROSS JOIN LATERAL (
    SELECT j.id FROM jobqueue.jobs AS j
    WHERE j.state IN ('succeeded', 'dead', 'cancelled')
      AND j.state = g.state AND j.queue = g.queue AND j.kind = g.kind
      AND j.id < coalesce($4::bigint, 9223372036854775807)
    ORDER BY j.id DESC
    LIMIT $5
  ) AS f
),
page AS (
  SELECT id FROM live
  UNION ALL
  SELECT id FROM finished
  ORDER BY id DESC
  LIMIT $5
)
SELECT j.id, j.queue, j.kind, j.payload, j.state::text AS state, j.priority, j.attempts,
       j.max_attempts,
       to_char(j.run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS run_at,
       to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
       to_char(j.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS started_at,
       to_char(j.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS finished_at,
       j.lease_owner,
       to_char(j.lease_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS lease_expires_at,
       j.idempotency_key, j.last_error, j.result
FROM page AS p
JOIN jobqueue.jobs AS j ON j.id = p.id
ORDER BY j.id DESC;

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
