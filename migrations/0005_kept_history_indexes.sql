-- jobqueue:no-transaction
-- jobqueue schema, version 5: the passes over the kept rows that schema 4
-- needs, none of which blocks writes. Never edit this file once released.
--
-- Runs outside a transaction, one statement at a time (the migrator splits
-- it at each line ending in ';'), because CREATE INDEX CONCURRENTLY cannot
-- run inside one: it builds the index while enqueues, claims and
-- completions go on, at the price of two scans instead of one. Every
-- statement here may run again after an interruption: the migrator drops
-- an INVALID index this file names (what an interrupted concurrent build
-- leaves) before it starts the file again.

-- Count what is already there (see jobqueue.recount_finished in 0004).
SELECT jobqueue.recount_finished();

-- One entry per finished job, written once when it finishes. Serves every
-- filtered page of GET /v1/jobs (one range per matching (state, queue,
-- kind) group) and the dead_jobs view.
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_finished_group_idx
  ON jobqueue.jobs (state, queue, kind, id)
  WHERE state IN ('succeeded', 'dead', 'cancelled');

-- The newest dead jobs first, however old the rest of the history is:
-- `SELECT * FROM jobqueue.dead_jobs ORDER BY finished_at DESC LIMIT 20`.
-- Dead jobs are few, so is this index.
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_dead_finished_idx
  ON jobqueue.jobs (finished_at)
  WHERE state = 'dead';

-- Same columns as before. Queued and running rows are counted through their
-- partial indexes (cost: the backlog); finished ones from the counts.
CREATE OR REPLACE VIEW jobqueue.queue_depth AS
SELECT queue,
       'queued'::jobqueue.job_state AS state,
       count(*) AS jobs,
       count(*) FILTER (WHERE run_at <= now()) AS due,
       now() - min(run_at) FILTER (WHERE run_at <= now()) AS oldest_queued_age
FROM jobqueue.jobs
WHERE state = 'queued'
GROUP BY queue
UNION ALL
SELECT queue, 'running', count(*), 0, NULL
FROM jobqueue.jobs
WHERE state = 'running'
GROUP BY queue
UNION ALL
SELECT queue, state, sum(jobs)::bigint, 0, NULL
FROM jobqueue.finished_counts
GROUP BY queue, state
HAVING sum(jobs) <> 0;
