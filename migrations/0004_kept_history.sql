-- jobqueue schema, version 4: reads that stay fast however many finished
-- jobs are kept (JOB_RETENTION_HOURS, 168 by default: hundreds of millions
-- of rows at a thousand jobs a second). Never edit this file once released.
--
-- What a read may cost now follows the live backlog (queued and running
-- jobs, found through their partial indexes) and the number of distinct
-- (queue, kind, state) groups, never the number of finished rows:
--   * finished jobs are counted exactly in jobqueue.finished_counts, kept by
--     triggers on jobqueue.jobs in the same transaction as each change;
--   * finished jobs are indexed by (state, queue, kind, id), so a filtered
--     page of GET /v1/jobs walks one short index range per matching group
--     (0005, built without blocking writes).
-- Why one table and not a live table beside a history table: measured in
-- bench/row_cost.sh (bench/README.md, "Row cost"): with the same indexes,
-- moving a job to a history table writes as much WAL as updating it in
-- place, and one table needs no copy of the kept rows to upgrade.
--
-- Locks: this file changes only the catalog (a table, functions, triggers,
-- a storage parameter), in one short transaction; its CREATE TRIGGER holds
-- SHARE ROW EXCLUSIVE on jobqueue.jobs until it commits, milliseconds. The
-- passes over the kept rows are in 0005, which blocks no writes.

-- Updates of a queued or running job (claim, heartbeat, completion) can then
-- usually write the new row version on the same page, which logs less WAL
-- and no extra lock record. Applies to pages written from now on.
ALTER TABLE jobqueue.jobs SET (fillfactor = 50);

-- Every job leaves dead row versions behind (claim, completion, prune), and
-- only VACUUM returns their space and index entries for reuse. By default
-- autovacuum waits until a fifth of the table is dead and then runs
-- throttled, so a busy queue's table and indexes grow to hold minutes of
-- churn. Here it starts once 1% (plus 1,000 rows) is dead and runs
-- unthrottled. (How often autovacuum looks at all, autovacuum_naptime, is
-- the server's setting: see README, "Kept history".)
ALTER TABLE jobqueue.jobs SET (autovacuum_vacuum_scale_factor = 0.01,
                               autovacuum_vacuum_threshold = 1000,
                               autovacuum_vacuum_cost_delay = 0);

-- Finished counts -------------------------------------------------------------

-- Append-only deltas: +n when n jobs of (queue, kind) reach a finished state,
-- -n when they leave it (retried, pruned, deleted, moved by hand). The sum
-- per (queue, kind, state) is the exact number of such rows in jobqueue.jobs
-- as of the reader's snapshot. Appending never waits on another writer, as
-- incrementing one shared row would; the reaper folds the rows older than a
-- minute into one per group every pass (jobqueue.compact_finished_counts()).
CREATE TABLE jobqueue.finished_counts (
  queue text NOT NULL,
  kind  text NOT NULL,
  state jobqueue.job_state NOT NULL,
  jobs  bigint NOT NULL,
  -- When the change was made (its transaction's start); '-infinity' for
  -- rows folded or recounted. The positive deltas of the last minute are
  -- the throughput `jobqueue status` and GET /v1/queues show, so folding
  -- leaves rows younger than a minute alone.
  at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT finished_counts_state_finished CHECK (state IN ('succeeded', 'dead', 'cancelled'))
);

COMMENT ON TABLE jobqueue.finished_counts IS
  'Finished jobs per (queue, kind, state) as deltas: sum(jobs) per group is exact. Kept by triggers on jobqueue.jobs; rebuild with jobqueue.recount_finished()';

-- One statement-level trigger per kind of change: one delta row per group a
-- statement touched, however many rows it changed (a worker completes a
-- batch of 100 jobs with one statement, so one row).
CREATE FUNCTION jobqueue.count_finished_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO jobqueue.finished_counts (queue, kind, state, jobs)
  SELECT c.queue, c.kind, c.state, sum(c.delta)
  FROM (SELECT n.queue, n.kind, n.state, 1 AS delta FROM new_rows AS n
        WHERE n.state IN ('succeeded', 'dead', 'cancelled')
        UNION ALL
        SELECT o.queue, o.kind, o.state, -1 FROM old_rows AS o
        WHERE o.state IN ('succeeded', 'dead', 'cancelled')) AS c
  GROUP BY c.queue, c.kind, c.state
  HAVING sum(c.delta) <> 0;
  RETURN NULL;
END
$$;

CREATE FUNCTION jobqueue.count_finished_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO jobqueue.finished_counts (queue, kind, state, jobs)
  SELECT o.queue, o.kind, o.state, -count(*)
  FROM old_rows AS o
  WHERE o.state IN ('succeeded', 'dead', 'cancelled')
  GROUP BY o.queue, o.kind, o.state;
  RETURN NULL;
END
$$;

-- Inserted rows are queued (enqueue): a row-level trigger whose WHEN is
-- false for them costs enqueue nothing. Only rows inserted by hand already
-- finished reach the function.
CREATE FUNCTION jobqueue.count_finished_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO jobqueue.finished_counts (queue, kind, state, jobs)
  VALUES (NEW.queue, NEW.kind, NEW.state, 1);
  RETURN NULL;
END
$$;

CREATE FUNCTION jobqueue.count_finished_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM jobqueue.finished_counts;
  RETURN NULL;
END
$$;

CREATE TRIGGER jobs_count_finished_update AFTER UPDATE ON jobqueue.jobs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION jobqueue.count_finished_update();
CREATE TRIGGER jobs_count_finished_delete AFTER DELETE ON jobqueue.jobs
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION jobqueue.count_finished_delete();
CREATE TRIGGER jobs_count_finished_insert AFTER INSERT ON jobqueue.jobs
  FOR EACH ROW WHEN (NEW.state IN ('succeeded', 'dead', 'cancelled'))
  EXECUTE FUNCTION jobqueue.count_finished_insert();
CREATE TRIGGER jobs_count_finished_truncate AFTER TRUNCATE ON jobqueue.jobs
  FOR EACH STATEMENT EXECUTE FUNCTION jobqueue.count_finished_truncate();

-- Folds the deltas older than a minute into one row per group; returns the
-- rows left. Exact under concurrent appends: it sums only the rows its own
-- DELETE removed, and a reader sees either all of them or the sums that
-- replace them. The lock keeps it apart from recount_finished().
CREATE FUNCTION jobqueue.compact_finished_counts() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  left_rows bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('jobqueue.finished_counts'));
  WITH gone AS (
    DELETE FROM jobqueue.finished_counts
    WHERE at < now() - interval '1 minute'
    RETURNING queue, kind, state, jobs
  )
  INSERT INTO jobqueue.finished_counts (queue, kind, state, jobs, at)
  SELECT queue, kind, state, sum(jobs), '-infinity' FROM gone
  GROUP BY queue, kind, state
  HAVING sum(jobs) <> 0;
  SELECT count(*) INTO left_rows FROM jobqueue.finished_counts;
  RETURN left_rows;
END
$$;

-- Counts again from the table: on upgrade (0005), and whenever the triggers
-- were bypassed (rows written with session_replication_role = replica, a
-- restore that skipped them). Returns the finished jobs counted. Takes no
-- lock on jobqueue.jobs; writers go on while it scans. It is exact because
-- it is one statement with one snapshot: the deltas of every change that
-- snapshot sees are deleted and replaced by the count, and the deltas of
-- changes it does not see (committed later) are left to add on top.
CREATE FUNCTION jobqueue.recount_finished() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  total bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('jobqueue.finished_counts'));
  WITH gone AS (
    DELETE FROM jobqueue.finished_counts
  ),
  counted AS (
    INSERT INTO jobqueue.finished_counts (queue, kind, state, jobs, at)
    SELECT queue, kind, state, count(*), '-infinity' FROM jobqueue.jobs
    WHERE state IN ('succeeded', 'dead', 'cancelled')
    GROUP BY queue, kind, state
    RETURNING jobs
  )
  SELECT coalesce(sum(jobs), 0) INTO total FROM counted;
  RETURN total;
END
$$;
