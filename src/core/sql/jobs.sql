-- Every runtime statement on jobqueue.jobs. Each is headed `-- name: x`;
-- that name is the prepared-statement name, the log field and the metrics
-- label. Time comes from Postgres; statements that depend on it take an
-- optional `now` (NULL means now()) so tests can move the clock.
-- Fences (`j.id = … AND j.lease_token = …`) need no `state = 'running'`:
-- jobs_lease_complete makes a lease token non-NULL exactly while running,
-- and without the state test the primary key is the only way to the row,
-- which keeps the worker's generic plans on index lookups.

-- name: enqueue_job
-- $1 kind, $2 payload jsonb, $3 queue, $4 priority, $5 run_at (NULL: now),
-- $6 max_attempts, $7 idempotency key (NULL: none)
SELECT e.id, e.created
FROM jobqueue.enqueue_job($1::text, $2::jsonb, $3::text, $4::smallint,
                          $5::timestamptz, $6::integer, $7::text) AS e;

-- name: enqueue_jobs
-- All or nothing, one statement: $1 is a jsonb array of objects with keys
-- kind, payload, queue, priority, run_at, max_attempts, idempotency_key
-- (absent keys take the column defaults). Ids are drawn up front so each
-- input row knows its job. A row whose idempotency key already exists on its
-- queue (or earlier in the same batch) is skipped with created = false; the
-- caller looks the existing job up with find_by_idempotency_key. Rows come
-- back in input order; ord is 1-based. Rows are inserted in key order so two
-- batches that share keys wait on each other's keys in the same order and
-- never deadlock (inserting in input order did, under concurrent batches).
WITH input AS (
  SELECT e.ord,
         nextval(pg_get_serial_sequence('jobqueue.jobs', 'id')) AS new_id,
         coalesce(j.queue, 'default') AS queue, j.kind,
         coalesce(j.payload, '{}'::jsonb) AS payload,
         coalesce(j.priority, 0::smallint) AS priority,
         coalesce(j.run_at, now()) AS run_at,
         coalesce(j.max_attempts, 25) AS max_attempts,
         j.idempotency_key
  FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(doc, ord),
       jsonb_to_record(e.doc) AS j(queue text, kind text, payload jsonb, priority smallint,
                                   run_at timestamptz, max_attempts integer,
                                   idempotency_key text)
),
inserted AS (
  INSERT INTO jobqueue.jobs (id, queue, kind, payload, priority, run_at, max_attempts,
                             idempotency_key)
  OVERRIDING SYSTEM VALUE
  SELECT new_id, queue, kind, payload, priority, run_at, max_attempts, idempotency_key
  FROM input ORDER BY queue, idempotency_key, ord
  ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
  RETURNING id
),
notified AS (
  SELECT pg_notify('jobqueue', q.queue)
  FROM (SELECT DISTINCT queue FROM input WHERE run_at <= now()) AS q
)
SELECT i.ord, i.new_id AS id, ins.id IS NOT NULL AS created, i.queue, i.idempotency_key,
       (SELECT count(*) FROM notified) AS queues_notified
FROM input AS i
LEFT JOIN inserted AS ins ON ins.id = i.new_id
ORDER BY i.ord;

-- name: find_by_idempotency_key
-- $1 queue, $2 idempotency key
SELECT id FROM jobqueue.jobs WHERE queue = $1 AND idempotency_key = $2;

-- name: claim_jobs
-- Leases up to $2 due jobs from the queues in $1 (text[]) for worker $3, for
-- $4 seconds: the first in claim order (priority, run_at, id). SKIP LOCKED lets many
-- workers claim at once without waiting on each other's rows. Every claim
-- counts an attempt and draws a fresh lease token, which fences every later
-- write of this attempt. $5 now (NULL: now()).
-- One LATERAL per queue so each walks jobs_claim_idx in order and stops after
-- $2 rows: `queue = ANY($1)` would read and sort the whole backlog instead.
-- Rows locked by a queue's scan but not chosen stay locked only until this
-- statement commits.
-- The lease token: one gen_random_uuid() per statement (an InitPlan), its
-- last 12 hex digits replaced by the job's id. Every fence compares id and
-- token together, so what matters is that no two claims of one job share a
-- token (74 random bits apart). A gen_random_uuid() per row cost the server
-- 5 us a job, a seventh of its CPU per job (bench/pg_cost.sh; bench/README.md).
-- The UPDATE finds the rows it has just locked by TID, so no plan can choose
-- a join over the table. A row someone else changed (still queued) between
-- this statement's snapshot and its lock is locked but not claimed: it stays
-- queued for the next claim.
-- Rows come unsorted, with run_at as epoch seconds (run_at_epoch): the
-- caller sorts them into claim order; sorting here cost a tenth of the
-- server's work per job (bench/README.md, "Instructions per job").
WITH candidates AS (
  SELECT c.id, c.priority, c.run_at, c.ctid
  FROM (SELECT DISTINCT unnest($1::text[])) AS q(name)
  CROSS JOIN LATERAL (
    SELECT id, priority, run_at, ctid FROM jobqueue.jobs
    WHERE state = 'queued' AND queue = q.name
      AND run_at <= coalesce($5::timestamptz, now())
    ORDER BY priority, run_at, id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
  ) AS c
),
due AS (
  SELECT ctid FROM candidates ORDER BY priority, run_at, id LIMIT $2
),
claimed AS (
  UPDATE jobqueue.jobs AS j
  SET state = 'running',
      attempts = j.attempts + 1,
      lease_owner = $3,
      lease_token = ((SELECT left(gen_random_uuid()::text, 24)) || lpad(to_hex(j.id), 12, '0'))::uuid,
      lease_expires_at = coalesce($5::timestamptz, now()) + make_interval(secs => $4::float8),
      started_at = now()
  WHERE j.ctid = ANY (ARRAY(SELECT ctid FROM due))
  RETURNING j.id, j.queue, j.kind, j.payload, j.priority,
            date_part('epoch', j.run_at) AS run_at_epoch, j.attempts,
            j.max_attempts, j.lease_token, j.lease_expires_at
)
SELECT id, queue, kind, payload, priority, run_at_epoch, attempts, max_attempts, lease_token,
       lease_expires_at
FROM claimed;

-- name: heartbeat_jobs
-- Extends to now() + $3 seconds the leases of the jobs in $1 (bigint[]) whose
-- lease token is still the one in $2 (uuid[], same order). Returns the ids
-- whose lease was extended; a missing id means that lease is lost.
UPDATE jobqueue.jobs AS j
SET lease_expires_at = now() + make_interval(secs => $3::float8)
FROM unnest($1::bigint[], $2::uuid[]) AS h(id, token)
WHERE j.id = h.id AND j.lease_token = h.token
RETURNING j.id;

-- name: complete_jobs
-- Marks succeeded the jobs in $1 (bigint[]) whose lease token is still the one
-- in $2 (uuid[], same order); $3 is a jsonb array of results in the same order
-- (NULL or shorter: no result). $4 false deletes them instead, result and
-- all (JOB_RETENTION_HOURS=0: no history, graphile-worker's model), under the
-- same fence. Returns the ids completed; a missing id means the lease was
-- lost and nothing was written for it.
WITH kept AS (
  UPDATE jobqueue.jobs AS j
  SET state = 'succeeded',
      result = nullif($3::jsonb -> (c.ord::integer - 1), 'null'::jsonb),
      finished_at = now(),
      lease_token = NULL,
      lease_expires_at = NULL
  FROM unnest($1::bigint[], $2::uuid[]) WITH ORDINALITY AS c(id, token, ord)
  WHERE $4::boolean AND j.id = c.id AND j.lease_token = c.token
  RETURNING j.id
),
deleted AS (
  DELETE FROM jobqueue.jobs AS j
  USING unnest($1::bigint[], $2::uuid[]) AS c(id, token)
  WHERE NOT $4::boolean AND j.id = c.id AND j.lease_token = c.token
  RETURNING j.id
)
SELECT id FROM kept
UNION ALL
SELECT id FROM deleted;

-- name: complete_and_claim_jobs
-- One round trip for a busy worker: completes the jobs in $1 (bigint[]) whose
-- lease token is still the one in $2 (uuid[]), with results $3 (jsonb array
-- or NULL), exactly as complete_jobs ($8 false: deletes them instead), and
-- in the same statement leases up to $4 due jobs from queues $5 (text[]) for
-- worker $6 for $7 seconds, exactly as claim_jobs ($4 = 0 claims nothing;
-- lease tokens made the same way).
-- The two touch disjoint rows (running vs queued). Returns the claimed jobs
-- unsorted as claim_jobs does (completed = false), and one row per completed
-- id (completed = true, other columns NULL).
WITH kept AS (
  UPDATE jobqueue.jobs AS j
  SET state = 'succeeded',
      result = nullif($3::jsonb -> (c.ord::integer - 1), 'null'::jsonb),
      finished_at = now(),
      lease_token = NULL,
      lease_expires_at = NULL
  FROM unnest($1::bigint[], $2::uuid[]) WITH ORDINALITY AS c(id, token, ord)
  WHERE $8::boolean AND j.id = c.id AND j.lease_token = c.token
  RETURNING j.id
),
deleted AS (
  DELETE FROM jobqueue.jobs AS j
  USING unnest($1::bigint[], $2::uuid[]) AS c(id, token)
  WHERE NOT $8::boolean AND j.id = c.id AND j.lease_token = c.token
  RETURNING j.id
),
completed AS (
  SELECT id FROM kept UNION ALL SELECT id FROM deleted
),
candidates AS (
  SELECT c.id, c.priority, c.run_at, c.ctid
  FROM (SELECT DISTINCT unnest($5::text[])) AS q(name)
  CROSS JOIN LATERAL (
    SELECT id, priority, run_at, ctid FROM jobqueue.jobs
    WHERE state = 'queued' AND queue = q.name AND run_at <= now()
    ORDER BY priority, run_at, id
    LIMIT $4
    FOR UPDATE SKIP LOCKED
  ) AS c
),
due AS (
  SELECT ctid FROM candidates ORDER BY priority, run_at, id LIMIT $4
),
claimed AS (
  UPDATE jobqueue.jobs AS j
  SET state = 'running',
      attempts = j.attempts + 1,
      lease_owner = $6,
      lease_token = ((SELECT left(gen_random_uuid()::text, 24)) || lpad(to_hex(j.id), 12, '0'))::uuid,
      lease_expires_at = now() + make_interval(secs => $7::float8),
      started_at = now()
  WHERE j.ctid = ANY (ARRAY(SELECT ctid FROM due))
  RETURNING j.id, j.queue, j.kind, j.payload, j.priority,
            date_part('epoch', j.run_at) AS run_at_epoch, j.attempts,
            j.max_attempts, j.lease_token, j.lease_expires_at
)
SELECT false AS completed, id, queue, kind, payload, priority, run_at_epoch, attempts,
       max_attempts, lease_token, lease_expires_at
FROM claimed
UNION ALL
SELECT true, id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM completed;

-- name: release_jobs
-- Hands back, unstarted, the jobs in $1 (bigint[]) still leased under the
-- tokens in $2 (uuid[]): queued again at once, the attempt the claim counted
-- taken back, the lease cleared. For a worker that claimed jobs it will not
-- run (it is shutting down). Returns the ids released.
UPDATE jobqueue.jobs AS j
SET state = 'queued',
    attempts = greatest(j.attempts - 1, 0),
    lease_token = NULL,
    lease_expires_at = NULL,
    started_at = NULL
FROM unnest($1::bigint[], $2::uuid[]) AS r(id, token)
WHERE j.id = r.id AND j.lease_token = r.token
RETURNING j.id;

-- name: fail_job
-- Records a failed attempt of job $1 under lease token $2 with error $3.
-- $4 true: permanent, the job is dead at once. Otherwise it is queued again
-- after jobqueue.retry_backoff(attempts), or dead when attempts are used up.
-- No row back means the lease was lost and nothing was written.
UPDATE jobqueue.jobs AS j
SET state = CASE WHEN $4::boolean OR j.attempts >= j.max_attempts
                 THEN 'dead'::jobqueue.job_state ELSE 'queued' END,
    run_at = CASE WHEN $4::boolean OR j.attempts >= j.max_attempts
                  THEN j.run_at ELSE now() + jobqueue.retry_backoff(j.attempts) END,
    finished_at = CASE WHEN $4::boolean OR j.attempts >= j.max_attempts THEN now() END,
    last_error = $3,
    lease_token = NULL,
    lease_expires_at = NULL
WHERE j.id = $1 AND j.lease_token = $2::uuid
RETURNING j.state, j.run_at;

-- name: cancel_job
-- Cancels job $1 if it is queued or running (a running job's worker then
-- finds its lease lost). Returns the job's state before the call in
-- prior_state (NULL: no such job) and whether it was cancelled.
WITH prior AS (
  SELECT state FROM jobqueue.jobs WHERE id = $1
),
cancelled AS (
  UPDATE jobqueue.jobs
  SET state = 'cancelled', finished_at = now(), lease_token = NULL, lease_expires_at = NULL
  WHERE id = $1 AND state IN ('queued', 'running')
  RETURNING id
)
SELECT (SELECT state FROM prior) AS prior_state,
       EXISTS (SELECT 1 FROM cancelled) AS changed;

-- name: retry_job
-- Queues dead or cancelled job $1 again, due now, with a fresh set of
-- attempts (last_error is kept for the record). Same result shape as
-- cancel_job.
WITH prior AS (
  SELECT state FROM jobqueue.jobs WHERE id = $1
),
retried AS (
  UPDATE jobqueue.jobs
  SET state = 'queued', attempts = 0, run_at = now(), finished_at = NULL, result = NULL
  WHERE id = $1 AND state IN ('dead', 'cancelled')
  RETURNING queue
),
notified AS (
  SELECT pg_notify('jobqueue', queue) FROM retried
)
SELECT (SELECT state FROM prior) AS prior_state,
       EXISTS (SELECT 1 FROM retried) AS changed,
       (SELECT count(*) FROM notified) AS notified;

-- name: get_job
-- $1 job id
SELECT id, queue, kind, payload, state, priority, run_at, attempts, max_attempts,
       lease_owner, lease_expires_at, idempotency_key, last_error, result,
       created_at, started_at, finished_at
FROM jobqueue.jobs WHERE id = $1;

-- name: reclaim_expired
-- Returns to the queue up to $1 running jobs whose lease expired before $2
-- (NULL: now()), oldest expiry first: queued again after backoff, or dead
-- when attempts are used up. SKIP LOCKED keeps two reapers, or a reaper and
-- a completing worker, from waiting on each other; the bound keeps each pass
-- a short transaction.
WITH expired AS (
  SELECT id FROM jobqueue.jobs
  WHERE state = 'running' AND lease_expires_at < coalesce($2::timestamptz, now())
  ORDER BY lease_expires_at
  LIMIT $1
  FOR UPDATE SKIP LOCKED
)
UPDATE jobqueue.jobs AS j
SET state = CASE WHEN j.attempts >= j.max_attempts
                 THEN 'dead'::jobqueue.job_state ELSE 'queued' END,
    run_at = CASE WHEN j.attempts >= j.max_attempts
                  THEN j.run_at ELSE now() + jobqueue.retry_backoff(j.attempts) END,
    finished_at = CASE WHEN j.attempts >= j.max_attempts THEN now() END,
    last_error = format('lease expired at %s (owner %s, attempt %s)',
                        j.lease_expires_at, j.lease_owner, j.attempts),
    lease_token = NULL,
    lease_expires_at = NULL
FROM expired
WHERE j.id = expired.id
RETURNING j.id, j.state;

-- name: prune_finished
-- Deletes up to $2 succeeded, dead or cancelled jobs that finished more than
-- $1 seconds before $3 (NULL: now()). Bounded so one pass is a short
-- transaction; call again while it returns $2.
WITH old AS (
  SELECT id FROM jobqueue.jobs
  WHERE state IN ('succeeded', 'dead', 'cancelled')
    AND finished_at < coalesce($3::timestamptz, now()) - make_interval(secs => $1::float8)
  ORDER BY finished_at
  LIMIT $2
  FOR UPDATE SKIP LOCKED
)
DELETE FROM jobqueue.jobs AS j USING old WHERE j.id = old.id
RETURNING j.id;

-- name: compact_finished_counts
-- Folds the deltas of jobqueue.finished_counts (migrations/0004); the
-- reaper calls it every pass.
SELECT jobqueue.compact_finished_counts();

-- name: queue_depth
-- Depth per queue and state with the oldest due queued job's age in
-- seconds, and how many jobs reached the state in the last minute (the
-- throughput `jobqueue status` shows): the positive count deltas of the
-- last minute (migrations/0004), so the cost follows the statements of one
-- minute, never the jobs they finished.
SELECT d.queue, d.state::text, d.jobs, d.due,
       extract(epoch FROM d.oldest_queued_age)::float8 AS oldest_queued_seconds,
       coalesce(f.finished, 0) AS finished_last_minute
FROM jobqueue.queue_depth AS d
LEFT JOIN (SELECT queue, state, sum(jobs)::bigint AS finished
           FROM jobqueue.finished_counts
           WHERE at >= now() - interval '1 minute' AND jobs > 0
           GROUP BY queue, state) AS f ON f.queue = d.queue AND f.state = d.state
ORDER BY d.queue, d.state;

-- name: retry_matching
-- Bulk retry, one batch: queues again, due now with a fresh set of attempts,
-- at most $5 jobs in state $1 ('dead' or 'cancelled') of queue $2 and kind
-- $3 (NULL: any) whose error group is $4 (the first line of last_error, at
-- most 200 characters, as api_dead_errors groups them; NULL: any). The
-- newest first, as api_dead_errors looks at them. Returns how many changed. Finds them per (queue, kind)
-- group through jobs_finished_group_idx, so the cost follows the matching
-- jobs, never the rest of the history; a job another statement moved
-- meanwhile fails the state check and is left alone.
WITH groups AS (
  SELECT queue, kind FROM jobqueue.finished_counts
  WHERE state = $1::jobqueue.job_state
    AND ($2::text IS NULL OR queue = $2::text)
    AND ($3::text IS NULL OR kind = $3::text)
  GROUP BY queue, kind
  HAVING sum(jobs) > 0
),
picked AS (
  SELECT p.id FROM groups AS g
  CROSS JOIN LATERAL (
    SELECT j.id FROM jobqueue.jobs AS j
    WHERE j.state IN ('succeeded', 'dead', 'cancelled')
      AND j.state = $1::jobqueue.job_state AND j.queue = g.queue AND j.kind = g.kind
      AND ($4::text IS NULL OR left(split_part(coalesce(j.last_error, ''), E'\n', 1), 200) = $4::text)
    ORDER BY j.id DESC
    LIMIT $5
  ) AS p
  ORDER BY p.id DESC
  LIMIT $5
),
retried AS (
  UPDATE jobqueue.jobs AS j
  SET state = 'queued', attempts = 0, run_at = now(), finished_at = NULL, result = NULL
  FROM picked
  WHERE j.id = picked.id AND j.state = $1::jobqueue.job_state
  RETURNING j.queue
),
notified AS (
  SELECT pg_notify('jobqueue', queue) FROM (SELECT DISTINCT queue FROM retried) AS q
)
SELECT (SELECT count(*) FROM retried) AS changed, (SELECT count(*) FROM notified) AS notified;

-- name: cancel_matching
-- Bulk cancel, one batch: at most $4 jobs in state $1 ('queued' or
-- 'running') of queue $2 and kind $3 (NULL: any), the oldest first, through
-- the partial index that holds that state. A running job's worker finds
-- its lease gone, as with cancel_job. Returns how many changed.
-- One branch per state, each on its partial index whatever the plan
-- (state = $1 alone would let a generic plan scan the whole table).
WITH picked AS (
  SELECT c.id FROM (
    SELECT id FROM jobqueue.jobs
    WHERE state = 'queued' AND $1::text = 'queued'
      AND ($2::text IS NULL OR queue = $2::text) AND ($3::text IS NULL OR kind = $3::text)
    UNION ALL
    SELECT id FROM jobqueue.jobs
    WHERE state = 'running' AND $1::text = 'running'
      AND ($2::text IS NULL OR queue = $2::text) AND ($3::text IS NULL OR kind = $3::text)
  ) AS c
  ORDER BY c.id
  LIMIT $4
),
cancelled AS (
  UPDATE jobqueue.jobs AS j
  SET state = 'cancelled', finished_at = now(), lease_token = NULL, lease_expires_at = NULL
  FROM picked
  WHERE j.id = picked.id AND j.state = $1::text::jobqueue.job_state
  RETURNING 1
)
SELECT count(*) AS changed FROM cancelled;
