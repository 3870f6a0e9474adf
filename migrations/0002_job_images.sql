-- jobqueue schema, version 2: image bytes. Inputs and outputs of image jobs
-- live here, one row per (job, role), never in jobqueue.jobs: claiming reads
-- only jobs rows and stays as cheap as before. Never edit this file once
-- released.

CREATE TABLE jobqueue.job_blobs (
  -- Deleting or pruning a job deletes its bytes with it.
  job_id       bigint NOT NULL REFERENCES jobqueue.jobs (id) ON DELETE CASCADE,
  role         text NOT NULL,            -- 'input' (uploaded) or 'output' (what the job made)
  content_type text NOT NULL,            -- from the magic bytes, never from the client
  byte_size    integer NOT NULL,
  sha256       bytea NOT NULL,           -- the HTTP ETag of these bytes
  bytes        bytea NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, role),
  CONSTRAINT job_blobs_role_valid CHECK (role IN ('input', 'output')),
  CONSTRAINT job_blobs_size_valid CHECK (byte_size = octet_length(bytes))
);

-- JPEG, PNG and WebP are compressed already: pglz would burn CPU for
-- nothing. EXTERNAL keeps large values out of line (in the TOAST table) and
-- uncompressed; values under the TOAST threshold (about 2 kB) stay inline.
ALTER TABLE jobqueue.job_blobs ALTER COLUMN bytes SET STORAGE EXTERNAL;

-- Operators' view: every stored image with its job and size.
CREATE VIEW jobqueue.job_images AS
SELECT b.job_id, j.queue, j.kind, j.state, b.role, b.content_type, b.byte_size,
       b.created_at
FROM jobqueue.job_blobs AS b
JOIN jobqueue.jobs AS j ON j.id = b.job_id;

-- Totals per role: how much image storage the queue holds.
CREATE VIEW jobqueue.image_storage AS
SELECT role, count(*) AS images, sum(byte_size)::bigint AS bytes,
       pg_size_pretty(sum(byte_size)::bigint) AS size
FROM jobqueue.job_blobs
GROUP BY role;
