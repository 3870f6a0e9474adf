-- jobqueue schema, version 3: the depth an autoscaler reads. KEDA's
-- postgresql scaler runs `SELECT jobqueue.scaling_depth(...)` (see
-- kustomize/components/keda): a function of the schema, never a query on the
-- tables, so later migrations can change the tables without touching
-- deployed manifests. Never edit this file once released.

-- Jobs that are queued and due (run_at <= now()) on the given queues, all
-- queues when `queues` is NULL: the same count as the job_queue_depth metric.
-- Reads only jobs_claim_idx (partial on state = 'queued'): its cost follows
-- the backlog, never the finished rows kept for JOB_RETENTION_HOURS.
CREATE FUNCTION jobqueue.scaling_depth(queues text[] DEFAULT NULL) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT count(*)
  FROM jobqueue.jobs AS j
  WHERE j.state = 'queued'
    AND j.run_at <= now()
    AND (scaling_depth.queues IS NULL OR j.queue = ANY (scaling_depth.queues))
$$;

COMMENT ON FUNCTION jobqueue.scaling_depth(text[]) IS
  'Due queued jobs (state = queued, run_at <= now()) on the given queues (NULL: all); what autoscalers scale workers on';
