-- jobqueue schema, version 7: a job's image bytes go with it a statement at
-- a time instead of a row at a time. Never edit this file once released.
--
-- Why: the foreign key job_blobs.job_id -> jobs.id (0002, ON DELETE CASCADE)
-- runs one lookup in job_blobs for every deleted job, image or not. With
-- JOB_RETENTION_HOURS=0 a worker deletes every job it completes, and that
-- per-row cascade was a tenth to a fifth of PostgreSQL's CPU per job
-- (measured with the worker at 500 jobs a statement: 17.4 against 14.0 and
-- 19.3 against 17.3 µs in two runs, bench/pg_cost.sh; bench/README.md, "The
-- foreign key, a row at a time"); pruning pays it for every job too (6.9
-- against 3.8 ms a batch of 1,000). What the key promised is kept by three
-- triggers:
--   * deleting jobs deletes their bytes: one DELETE per statement, joined
--     against the statement's deleted rows (a transition table);
--   * a row in job_blobs must name a job that exists: checked when it is
--     written, with the job row locked FOR KEY SHARE until the writer's
--     transaction ends, as the key's own check does, so the job cannot be
--     deleted in between (README, "Upgrading to schema 7", says what
--     REPEATABLE READ changes);
--   * TRUNCATE jobqueue.jobs empties job_blobs too (the key refused it).
--
-- Locks: one short transaction that changes only the catalog. Dropping the
-- key takes ACCESS EXCLUSIVE on jobqueue.jobs and jobqueue.job_blobs (its
-- triggers live on both), CREATE TRIGGER takes SHARE ROW EXCLUSIVE; no row
-- is read or written, so they are held for milliseconds once granted. The
-- statements in flight finish first (a worker's are milliseconds long); a
-- transaction left open on jobqueue.jobs (an operator's session) would hold
-- the migration, and every query queued behind it, for as long as it stays
-- open, so the migration gives up after 5 s instead, changing nothing, and
-- `jobqueue migrate` can simply run again.
SET LOCAL lock_timeout = '5s';

ALTER TABLE jobqueue.job_blobs DROP CONSTRAINT job_blobs_job_id_fkey;

CREATE FUNCTION jobqueue.delete_job_blobs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- EXECUTE plans the join at every call, for this statement's number of
  -- deleted jobs. A cached plan keeps its first call's estimate, and a
  -- worker's first round trip deletes nothing: that left a nested loop with
  -- one index probe per deleted job, 1.4-1.8 ms a statement of 500.
  EXECUTE 'DELETE FROM jobqueue.job_blobs AS b USING old_rows AS o WHERE b.job_id = o.id';
  RETURN NULL;
END
$$;

CREATE TRIGGER jobs_delete_blobs AFTER DELETE ON jobqueue.jobs
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION jobqueue.delete_job_blobs();

CREATE FUNCTION jobqueue.truncate_job_blobs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE jobqueue.job_blobs;
  RETURN NULL;
END
$$;

CREATE TRIGGER jobs_truncate_blobs AFTER TRUNCATE ON jobqueue.jobs
  FOR EACH STATEMENT EXECUTE FUNCTION jobqueue.truncate_job_blobs();

-- An AFTER row trigger, as the key's check was: it runs at the end of the
-- statement, so a statement that inserts a job and its bytes together
-- (enqueue_job_with_input) finds the job.
CREATE FUNCTION jobqueue.check_job_blob_job() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM jobqueue.jobs WHERE id = NEW.job_id FOR KEY SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'job_blobs: job % does not exist', NEW.job_id
      USING ERRCODE = 'foreign_key_violation', SCHEMA = 'jobqueue', TABLE = 'job_blobs',
            CONSTRAINT = 'job_blobs_job_id_fkey',
            HINT = 'image bytes are stored with their job, in the same transaction';
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER job_blobs_check_job AFTER INSERT OR UPDATE OF job_id ON jobqueue.job_blobs
  FOR EACH ROW EXECUTE FUNCTION jobqueue.check_job_blob_job();

COMMENT ON TABLE jobqueue.job_blobs IS
  'Image bytes of jobs, one row per (job, role). Deleting or truncating jobs deletes their rows (triggers jobs_delete_blobs, jobs_truncate_blobs); a row must name an existing job (trigger job_blobs_check_job)';
