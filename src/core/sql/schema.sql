-- Read-only statements about the schema itself, for the CLI.

-- name: describe_schema
-- Tables and views of schema jobqueue with their columns, for `jobqueue dev`
-- and `jobqueue migrate --print`.
SELECT c.table_name,
       t.table_type,
       string_agg(c.column_name || ' ' ||
                  CASE WHEN c.data_type = 'USER-DEFINED' THEN c.udt_name ELSE c.data_type END,
                  ', ' ORDER BY c.ordinal_position) AS columns
FROM information_schema.columns AS c
JOIN information_schema.tables AS t USING (table_schema, table_name)
WHERE c.table_schema = 'jobqueue'
GROUP BY c.table_name, t.table_type
ORDER BY t.table_type, c.table_name;

-- name: now_plus_seconds
-- $1 seconds from the database's now(), as timestamptz text (CLI --delay).
SELECT now() + make_interval(secs => $1::float8);
