-- jobqueue schema, version 6: what the dashboard (and any script) reads
-- besides the jobs. Never edit this file once released.
--
-- 1. jobqueue.workers: the workers, as they report themselves. Each
--    jobqueue-worker upserts its own row a few times a minute (statement
--    worker_seen: one small HOT update, nothing on jobqueue.jobs) and marks
--    it stopped when it drains; the reaper deletes rows not seen for a day.
CREATE TABLE jobqueue.workers (
  id          text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 253),  -- WORKER_ID: the pod name
  queues      text[] NOT NULL,
  concurrency integer NOT NULL CHECK (concurrency > 0),
  running     integer NOT NULL DEFAULT 0 CHECK (running >= 0),       -- jobs running at seen_at
  started_at  timestamptz NOT NULL,                                   -- this process's start
  seen_at     timestamptz NOT NULL DEFAULT now(),
  stopped_at  timestamptz                                             -- drained and exited cleanly
) WITH (fillfactor = 50);  -- room for each upsert's new version on the same page (HOT)

COMMENT ON TABLE jobqueue.workers IS
  'jobqueue-worker processes as they report themselves a few times a minute; rows unseen for a day are deleted';

-- 2. Throughput over time. The finished-count deltas (0004) of the last
--    minute were already the "finished in the last minute" figures; the
--    reaper's fold now keeps the next 14 minutes too, as one row per
--    10-second bucket, group and sign, instead of folding them at once into
--    the '-infinity' total. Positive and negative deltas stay apart, so the
--    positive ones of a bucket are the jobs that finished in it (a prune's
--    or a retry's -n is not a negative throughput). Every sum per group is
--    unchanged: the counts stay exact.
CREATE FUNCTION jobqueue.throughput_bucket(t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT to_timestamp(floor(extract(epoch FROM t) / 10) * 10)
$$;

CREATE OR REPLACE FUNCTION jobqueue.compact_finished_counts() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  left_rows bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('jobqueue.finished_counts'));
  -- Deltas older than a minute and younger than 15: into their bucket (a
  -- row already on its bucket's start is left alone, so each pass rewrites
  -- only the deltas that arrived since the last one).
  WITH gone AS (
    DELETE FROM jobqueue.finished_counts
    WHERE at < now() - interval '1 minute'
      AND at >= now() - interval '15 minutes'
      AND at <> jobqueue.throughput_bucket(at)
    RETURNING queue, kind, state, jobs, at
  )
  INSERT INTO jobqueue.finished_counts (queue, kind, state, jobs, at)
  SELECT queue, kind, state, sum(jobs), jobqueue.throughput_bucket(at) FROM gone
  GROUP BY queue, kind, state, jobqueue.throughput_bucket(at), jobs > 0
  HAVING sum(jobs) <> 0;
  -- Older than 15 minutes: into the one total per group, as before.
  WITH gone AS (
    DELETE FROM jobqueue.finished_counts
    WHERE at < now() - interval '15 minutes' AND at <> '-infinity'
    RETURNING queue, kind, state, jobs
  ),
  totals AS (
    DELETE FROM jobqueue.finished_counts AS f
    USING (SELECT DISTINCT queue, kind, state FROM gone) AS g
    WHERE f.at = '-infinity' AND (f.queue, f.kind, f.state) = (g.queue, g.kind, g.state)
    RETURNING f.queue, f.kind, f.state, f.jobs
  )
  INSERT INTO jobqueue.finished_counts (queue, kind, state, jobs, at)
  SELECT queue, kind, state, sum(jobs), '-infinity'
  FROM (SELECT queue, kind, state, jobs FROM gone UNION ALL SELECT queue, kind, state, jobs FROM totals) AS t
  GROUP BY queue, kind, state
  HAVING sum(jobs) <> 0;
  SELECT count(*) INTO left_rows FROM jobqueue.finished_counts;
  RETURN left_rows;
END
$$;
