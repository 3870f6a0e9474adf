-- name: worker_seen
-- Worker $1 reports itself: serving queues $2 (text[]) with concurrency $3,
-- $4 jobs running, its process started at $5. A new process under a known
-- id (a restarted pod) replaces the row's start and clears stopped_at.
INSERT INTO jobqueue.workers AS w (id, queues, concurrency, running, started_at, seen_at)
VALUES ($1, $2::text[], $3, $4, $5::timestamptz, now())
ON CONFLICT (id) DO UPDATE
SET queues = EXCLUDED.queues,
    concurrency = EXCLUDED.concurrency,
    running = EXCLUDED.running,
    started_at = EXCLUDED.started_at,
    seen_at = now(),
    stopped_at = NULL;

-- name: worker_stopped
-- Worker $1 drained and is exiting: nothing running any more.
UPDATE jobqueue.workers SET running = 0, seen_at = now(), stopped_at = now() WHERE id = $1;

-- name: list_workers
-- The workers seen in the last $1 seconds, stopped ones included, by id.
-- Times as RFC 3339 UTC, like the API's jobs.
SELECT id, array_to_json(queues)::text AS queues_json, concurrency, running,
       to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS started_at,
       to_char(seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS seen_at,
       to_char(stopped_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS stopped_at,
       extract(epoch FROM now() - seen_at)::float8 AS seen_seconds_ago
FROM jobqueue.workers
WHERE seen_at > now() - make_interval(secs => $1::float8)
ORDER BY id;

-- name: prune_workers
-- Deletes the workers not seen for $1 seconds; returns how many.
WITH gone AS (
  DELETE FROM jobqueue.workers WHERE seen_at < now() - make_interval(secs => $1::float8) RETURNING 1
)
SELECT count(*) FROM gone;
