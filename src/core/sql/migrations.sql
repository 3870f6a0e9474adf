-- Statements of the migrator (core/migrator.cpp). The migration files
-- themselves live in migrations/ at the top of the repository.

-- name: migrations_try_lock
-- A session-level advisory lock: one migrator at a time across all pods;
-- released by migrations_unlock or when the session ends. Polled rather
-- than waited for: a session blocked in pg_advisory_lock() holds a
-- snapshot, and CREATE INDEX CONCURRENTLY in the migrator that holds the
-- lock would wait for that snapshot, and so for itself.
SELECT pg_try_advisory_lock(hashtext('jobqueue.migrate'));

-- name: migrations_unlock
SELECT pg_advisory_unlock(hashtext('jobqueue.migrate'));

-- name: migrations_create_schema
CREATE SCHEMA IF NOT EXISTS jobqueue;

-- name: migrations_create_table
CREATE TABLE IF NOT EXISTS jobqueue.schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  checksum   text NOT NULL,  -- sha256 of the file as applied, hex
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: migrations_table_exists
SELECT to_regclass('jobqueue.schema_migrations') IS NOT NULL;

-- name: migrations_applied
SELECT version, name, checksum FROM jobqueue.schema_migrations ORDER BY version;

-- name: migrations_checksum
-- $1 the file's text
SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex');

-- name: migrations_record
-- $1 version, $2 file name, $3 checksum
INSERT INTO jobqueue.schema_migrations (version, name, checksum) VALUES ($1, $2, $3);

-- name: migrations_invalid_indexes
-- Indexes of schema jobqueue marked INVALID: what an interrupted CREATE
-- INDEX CONCURRENTLY leaves behind. Quoted, ready for DROP INDEX.
SELECT format('%I.%I', n.nspname, c.relname) AS qualified, c.relname AS name
FROM pg_index AS i
JOIN pg_class AS c ON c.oid = i.indexrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = 'jobqueue' AND NOT i.indisvalid;
