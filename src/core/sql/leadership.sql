-- Leader election for the reaper: a session-level advisory lock, held for as
-- long as the leader's session lives. When the leader dies, PostgreSQL drops
-- its session and the lock with it, and the next replica to try takes over.

-- name: try_lead_reaper
-- True when this session now holds (or already held) the reaper lock.
SELECT pg_try_advisory_lock(hashtext('jobqueue.reaper')) AS leader;

-- name: resign_reaper
-- Gives the reaper lock up (shutdown), so another replica takes over at once.
SELECT pg_advisory_unlock(hashtext('jobqueue.reaper')) AS released;
