-- Every runtime statement on jobqueue.job_blobs: the input and output bytes
-- of image jobs (migrations/0002_job_images.sql).

-- name: enqueue_job_with_input
-- Enqueues a job and stores its input image in one statement (one
-- transaction): both exist or neither. $1..$7 as enqueue_job; $8 the
-- content type, $9 the bytes (bytea). With an idempotency key already used,
-- nothing is stored and the existing job comes back with created = false.
WITH e AS (
  SELECT * FROM jobqueue.enqueue_job($1::text, $2::jsonb, $3::text, $4::smallint,
                                     $5::timestamptz, $6::integer, $7::text)
),
stored AS (
  INSERT INTO jobqueue.job_blobs (job_id, role, content_type, byte_size, sha256, bytes)
  SELECT e.id, 'input', $8::text, octet_length($9::bytea), sha256($9::bytea), $9::bytea
  FROM e WHERE e.created
  RETURNING job_id
)
SELECT e.id, e.created, (SELECT count(*) FROM stored) AS stored FROM e;

-- name: complete_job_with_output
-- Completes job $1 under lease token $2 with result $3 (jsonb) and stores
-- its output image ($4 content type, $5 bytes) in the same statement: the
-- output exists only if this attempt still held the lease. No row back
-- means the lease was lost and nothing at all was written.
WITH completed AS (
  UPDATE jobqueue.jobs AS j
  SET state = 'succeeded',
      result = $3::jsonb,
      finished_at = now(),
      lease_token = NULL,
      lease_expires_at = NULL
  WHERE j.id = $1 AND j.lease_token = $2::uuid
  RETURNING j.id
),
stored AS (
  INSERT INTO jobqueue.job_blobs (job_id, role, content_type, byte_size, sha256, bytes)
  SELECT id, 'output', $4::text, octet_length($5::bytea), sha256($5::bytea), $5::bytea
  FROM completed
  -- Only an operator's hand-made state change could leave an old output.
  ON CONFLICT (job_id, role) DO UPDATE
    SET content_type = EXCLUDED.content_type, byte_size = EXCLUDED.byte_size,
        sha256 = EXCLUDED.sha256, bytes = EXCLUDED.bytes, created_at = now()
  RETURNING job_id
)
SELECT id, (SELECT count(*) FROM stored) AS stored FROM completed;

-- name: get_job_blob
-- Job $1's state and worker, and its image of role $2 ('input' or
-- 'output') if stored, without its bytes (get_job_blob_bytes reads them;
-- a conditional GET needs just the digest, and an unread bytea is never
-- fetched from TOAST). No row: no such job. NULL content_type: the job has
-- no such image.
SELECT j.state::text AS state, j.kind, j.lease_owner, j.last_error,
       b.content_type, b.byte_size, encode(b.sha256, 'hex') AS sha256
FROM jobqueue.jobs AS j
LEFT JOIN jobqueue.job_blobs AS b ON b.job_id = j.id AND b.role = $2::text
WHERE j.id = $1;

-- name: get_job_blob_bytes
-- The bytes of job $1's image of role $2 ('input' or 'output'), read in
-- binary format (Connection::ExecBinaryField). No row: no such image.
SELECT bytes FROM jobqueue.job_blobs WHERE job_id = $1::bigint AND role = $2::text;
