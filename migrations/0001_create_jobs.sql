-- jobqueue schema, version 1: the jobs table, its indexes, the enqueue
-- function and the views operators query. Never edit this file once
-- released: add 0002_*.sql instead (the migrator refuses changed files).

CREATE SCHEMA IF NOT EXISTS jobqueue;

CREATE TYPE jobqueue.job_state AS ENUM (
  'queued',     -- waiting for run_at, or due and waiting for a worker
  'running',    -- leased by lease_owner until lease_expires_at
  'succeeded',  -- finished; result holds what the handler returned
  'dead',       -- attempts exhausted or a permanent error; see last_error
  'cancelled'   -- cancelled by an operator before it finished
);

CREATE TABLE jobqueue.jobs (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  queue            text NOT NULL DEFAULT 'default',
  kind             text NOT NULL,
  payload          jsonb NOT NULL DEFAULT '{}'::jsonb,
  state            jobqueue.job_state NOT NULL DEFAULT 'queued',
  priority         smallint NOT NULL DEFAULT 0,        -- smaller runs first
  run_at           timestamptz NOT NULL DEFAULT now(), -- not claimed before
  attempts         integer NOT NULL DEFAULT 0,         -- claims so far
  max_attempts     integer NOT NULL DEFAULT 25,
  lease_owner      text,                               -- worker id (pod name); kept after the job ends
  lease_token      uuid,                               -- fences the current attempt; NULL unless running
  lease_expires_at timestamptz,                        -- NULL unless running
  idempotency_key  text,
  last_error       text,
  result           jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,                        -- start of the latest attempt
  finished_at      timestamptz,                        -- set on succeeded, dead, cancelled

  CONSTRAINT jobs_queue_valid CHECK (length(queue) BETWEEN 1 AND 128),
  CONSTRAINT jobs_kind_valid CHECK (length(kind) BETWEEN 1 AND 128),
  CONSTRAINT jobs_idempotency_key_valid CHECK (length(idempotency_key) BETWEEN 1 AND 512),
  CONSTRAINT jobs_max_attempts_valid CHECK (max_attempts BETWEEN 1 AND 1000),
  CONSTRAINT jobs_attempts_valid CHECK (attempts >= 0),
  CONSTRAINT jobs_lease_complete CHECK (
    (state = 'running') = (lease_token IS NOT NULL AND lease_expires_at IS NOT NULL))
);

-- Claiming reads only queued rows: the index stays as small as the backlog
-- however many finished jobs pile up, and its order is the claim order.
CREATE INDEX jobs_claim_idx ON jobqueue.jobs (queue, priority, run_at, id)
  WHERE state = 'queued';

-- The reaper scans running rows by lease expiry.
CREATE INDEX jobs_lease_expiry_idx ON jobqueue.jobs (lease_expires_at)
  WHERE state = 'running';

-- Pruning scans finished rows by age.
CREATE INDEX jobs_finished_idx ON jobqueue.jobs (finished_at)
  WHERE state IN ('succeeded', 'dead', 'cancelled');

-- One job per (queue, idempotency key) for as long as the job is kept.
CREATE UNIQUE INDEX jobs_idempotency_idx ON jobqueue.jobs (queue, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

-- Delay before retry number `attempt` + 1: 2^attempt seconds, capped at a day,
-- with +-25% jitter so jobs that failed together do not retry together.
CREATE FUNCTION jobqueue.retry_backoff(attempt integer) RETURNS interval
LANGUAGE sql VOLATILE AS $$
  SELECT make_interval(secs => least(power(2, least(attempt, 30)), 86400)
                               * (0.75 + random() * 0.5))
$$;

-- Enqueue one job; returns (id, created). With an idempotency key already
-- used on the same queue, returns the existing job and created = false, also
-- when the first insert is concurrent (ON CONFLICT waits for it to commit).
-- Notifies channel 'jobqueue' with the queue name; Postgres delivers it only
-- when the surrounding transaction commits.
CREATE FUNCTION jobqueue.enqueue_job(
  kind            text,
  payload         jsonb DEFAULT '{}'::jsonb,
  queue           text DEFAULT 'default',
  priority        smallint DEFAULT 0,
  run_at          timestamptz DEFAULT NULL,
  max_attempts    integer DEFAULT 25,
  idempotency_key text DEFAULT NULL,
  OUT id bigint, OUT created boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  INSERT INTO jobqueue.jobs AS j (queue, kind, payload, priority, run_at, max_attempts, idempotency_key)
  VALUES (coalesce(enqueue_job.queue, 'default'), enqueue_job.kind,
          coalesce(enqueue_job.payload, '{}'::jsonb), coalesce(enqueue_job.priority, 0),
          coalesce(enqueue_job.run_at, now()), coalesce(enqueue_job.max_attempts, 25),
          enqueue_job.idempotency_key)
  ON CONFLICT (queue, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
  RETURNING j.id INTO enqueue_job.id;

  IF enqueue_job.id IS NOT NULL THEN
    created := true;
    IF coalesce(enqueue_job.run_at, now()) <= now() THEN
      PERFORM pg_notify('jobqueue', coalesce(enqueue_job.queue, 'default'));
    END IF;
    RETURN;
  END IF;

  created := false;
  SELECT j.id INTO enqueue_job.id FROM jobqueue.jobs AS j
  WHERE j.queue = coalesce(enqueue_job.queue, 'default')
    AND j.idempotency_key = enqueue_job.idempotency_key;
END
$$;

-- The transactional enqueue of DESIGN.md, for any language:
--   SELECT jobqueue.enqueue('thumbnail', '{"w": 64}', queue => 'images');
CREATE FUNCTION jobqueue.enqueue(
  kind            text,
  payload         jsonb DEFAULT '{}'::jsonb,
  queue           text DEFAULT 'default',
  priority        smallint DEFAULT 0,
  run_at          timestamptz DEFAULT NULL,
  max_attempts    integer DEFAULT 25,
  idempotency_key text DEFAULT NULL) RETURNS bigint
LANGUAGE sql AS $$
  SELECT e.id FROM jobqueue.enqueue_job(kind, payload, queue, priority, run_at,
                                        max_attempts, idempotency_key) AS e
$$;

-- Operators' views -----------------------------------------------------------

-- Depth per queue and state; oldest_queued_age is the age of the oldest due
-- queued job (NULL for other states).
CREATE VIEW jobqueue.queue_depth AS
SELECT queue,
       state,
       count(*) AS jobs,
       count(*) FILTER (WHERE state = 'queued' AND run_at <= now()) AS due,
       CASE WHEN state = 'queued'
            THEN now() - min(run_at) FILTER (WHERE run_at <= now()) END AS oldest_queued_age
FROM jobqueue.jobs
GROUP BY queue, state;

CREATE VIEW jobqueue.running_jobs AS
SELECT id, queue, kind, lease_owner, attempts, max_attempts, started_at,
       lease_expires_at, lease_expires_at - now() AS lease_time_left
FROM jobqueue.jobs
WHERE state = 'running';

CREATE VIEW jobqueue.dead_jobs AS
SELECT id, queue, kind, attempts, max_attempts, last_error, lease_owner,
       created_at, finished_at, payload
FROM jobqueue.jobs
WHERE state = 'dead';
