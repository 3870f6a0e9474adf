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

-- name: api_throughput
-- Jobs finished per 10-second bucket over the last $1 seconds (10..900),
-- per finished state, in queue $2 (NULL: all): the positive finished-count
-- deltas (migrations/0004, bucketed by 0006). Every bucket is present,
-- oldest first, zeros included; the last one is the current bucket, still
-- filling. Cost: the count rows of 15 minutes, never the jobs.
WITH buckets AS (
  SELECT b AS at
  FROM generate_series(jobqueue.throughput_bucket(now()) - make_interval(secs => ceil($1::float8 / 10) * 10 - 10),
                       jobqueue.throughput_bucket(now()), interval '10 seconds') AS b
),
finished AS (
  SELECT jobqueue.throughput_bucket(at) AS at, state, sum(jobs) AS jobs
  FROM jobqueue.finished_counts
  WHERE jobs > 0 AND at >= (SELECT min(at) FROM buckets)
    AND ($2::text IS NULL OR queue = $2::text)
  GROUP BY 1, 2
)
SELECT to_char(b.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at,
       coalesce(sum(f.jobs) FILTER (WHERE f.state = 'succeeded'), 0)::bigint AS succeeded,
       coalesce(sum(f.jobs) FILTER (WHERE f.state = 'dead'), 0)::bigint AS dead,
       coalesce(sum(f.jobs) FILTER (WHERE f.state = 'cancelled'), 0)::bigint AS cancelled
FROM buckets AS b
LEFT JOIN finished AS f ON f.at = b.at
GROUP BY b.at
ORDER BY b.at;

-- name: api_dead_errors
-- Dead jobs of queue $1 and kind $2 (NULL: any) grouped by error: the first
-- line of last_error, at most 200 characters (what retry_matching takes).
-- Looks at the newest $3 dead jobs only, so the cost is bounded however
-- many are kept: their ids come from jobs_finished_group_idx alone (an
-- index-only scan per (queue, kind) group), and only those $3 rows are read
-- from the table. (Reading the error columns inside the per-group scan let
-- the planner walk every dead job instead: 3 s over 10 million kept jobs.)
-- `scanned` says how many were looked at, `total` how many dead jobs match
-- (exact, from the counts). The 100 largest groups.
WITH groups AS (
  SELECT queue, kind, sum(jobs) AS jobs FROM jobqueue.finished_counts
  WHERE state = 'dead'
    AND ($1::text IS NULL OR queue = $1::text)
    AND ($2::text IS NULL OR kind = $2::text)
  GROUP BY queue, kind
  HAVING sum(jobs) > 0
),
newest AS (
  SELECT d.id FROM groups AS g
  CROSS JOIN LATERAL (
    SELECT j.id FROM jobqueue.jobs AS j
    WHERE j.state IN ('succeeded', 'dead', 'cancelled')
      AND j.state = 'dead' AND j.queue = g.queue AND j.kind = g.kind
    ORDER BY j.id DESC
    LIMIT $3
  ) AS d
  ORDER BY d.id DESC
  LIMIT $3
),
dead AS (
  SELECT j.id, j.queue, j.kind, j.finished_at,
         left(split_part(coalesce(j.last_error, ''), E'\n', 1), 200) AS error
  FROM newest AS n
  JOIN jobqueue.jobs AS j ON j.id = n.id
  WHERE j.state = 'dead'
)
SELECT error, count(*) AS jobs,
       array_to_json(array_agg(DISTINCT kind ORDER BY kind))::text AS kinds_json,
       array_to_json(array_agg(DISTINCT queue ORDER BY queue))::text AS queues_json,
       max(id) AS latest_id,
       to_char(max(finished_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS latest_finished_at,
       (SELECT count(*) FROM dead) AS scanned,
       (SELECT sum(jobs) FROM groups)::bigint AS total
FROM dead
GROUP BY error
ORDER BY count(*) DESC, max(id) DESC
LIMIT 100;
