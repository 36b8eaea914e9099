-- Let PostgreSQL serve FerretDB 1.24's pushed-down equality filters from indexes.
-- Run by deploy/postgres.sh (as the superuser, in database ferretdb) on every start; idempotent.
-- Why: docs/adr/0004-store-ferretdb-on-postgresql.md.
--
-- FerretDB's PostgreSQL backend stores each collection as a table with one jsonb column, _jsonb.
-- For an index declared through the MongoDB API (createIndexes, and the `_id_` index of every new
-- collection) it creates a btree on the field's expression:
--     CREATE [UNIQUE] INDEX ... ON db.coll_1a2b3c4d (((_jsonb -> 'state')), ((_jsonb -> 'band')) DESC)
-- but it pushes an equality filter {state: 'waiting'} down as containment:
--     WHERE _jsonb -> 'state' @> '"waiting"'
-- which a btree cannot answer, so every find (even by _id) is a sequential scan. A GIN index with
-- the jsonb_path_ops operator class on the same expression answers `@>`. The event trigger below
-- adds one such companion for every top-level key of every btree index FerretDB creates, so each
-- index a service declares serves equality lookups on its top-level fields with no change to the
-- service. Keys on a dotted path (`outbox.id`: a btree on _jsonb -> 'outbox' -> 'id') get none:
-- FerretDB 1.24 does not push dot-notation filters down (its EnableNestedPushdown switch is off and
-- the embeddable package does not expose it), so such an index could never be used.

BEGIN;

-- FerretDB runs its statements as prepared statements with the field name as a parameter
-- (`_jsonb -> $1 @> $2`, one statement for every field). A generic plan cannot match an expression
-- index, and PostgreSQL switches a prepared statement to its generic plan once that looks no dearer
-- than the custom ones (e.g. while a table is small), after which it would not use the index again.
-- Always plan with the actual values.
DO $$
BEGIN
  EXECUTE format('ALTER DATABASE %I SET plan_cache_mode = force_custom_plan', current_database());
END
$$;

CREATE OR REPLACE FUNCTION public.waymark_companion_gin_indexes() RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $fn$
DECLARE
  cmd record;
  idx record;
  k int;
  expr text;
  field text;
  gin_expr text;
  label text;
  gin_name text;
BEGIN
  FOR cmd IN
    SELECT objid FROM pg_event_trigger_ddl_commands()
     WHERE command_tag = 'CREATE INDEX' AND object_type = 'index'
  LOOP
    SELECT i.indexrelid, i.indnkeyatts, am.amname, n.nspname, t.relname
      INTO idx
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid
      JOIN pg_am am ON am.oid = c.relam
      JOIN pg_class t ON t.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE i.indexrelid = cmd.objid;
    -- Only FerretDB's btree indexes on collection tables; never our own GIN (this trigger fires for
    -- the CREATE INDEX it runs itself), never FerretDB's metadata table.
    CONTINUE WHEN NOT FOUND OR idx.amname <> 'btree' OR idx.relname = '_ferretdb_database_metadata';

    FOR k IN 1..idx.indnkeyatts LOOP
      -- FerretDB writes a top-level field as _jsonb -> 'f'; PostgreSQL prints it back as
      -- ((_jsonb -> 'f'::text)). Take the quoted key, rebuild that text, and skip anything that is
      -- not exactly it (a nested path, a plain column, ->>, a function...).
      expr := pg_get_indexdef(idx.indexrelid, k, false);
      field := substring(expr FROM '^\(\(_jsonb -> ''((?:[^'']|'''')*)''::text\)\)$');
      CONTINUE WHEN field IS NULL;
      field := replace(field, '''''', '''');
      CONTINUE WHEN expr <> format('((_jsonb -> %L::text))', field);

      -- The expression of FerretDB's pushdown (`_jsonb -> $1`, planned with the key), so the
      -- planner matches the filter to this index.
      gin_expr := format('(_jsonb -> %L)', field);
      -- Deterministic, at most 58 characters (PostgreSQL truncates names at 63), unique per table and
      -- expression (the hash), and ending in _gin where FerretDB's own names end in _idx. A field that
      -- appears in several indexes gets one companion.
      label := left(regexp_replace(lower(field), '[^a-z0-9_]', '_', 'g'), 20);
      gin_name := left(idx.relname, 24) || '_' || label || '_'
                  || left(md5(idx.nspname || '.' || idx.relname || ' ' || gin_expr), 8) || '_gin';
      -- fastupdate off: entries go straight into the index rather than into a pending list that every
      -- lookup scans until the next vacuum; one key per document keeps the insert cost small.
      EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I.%I USING gin (%s jsonb_path_ops) WITH (fastupdate = off)',
                     gin_name, idx.nspname, idx.relname, gin_expr);
    END LOOP;
  END LOOP;
END
$fn$;

DROP EVENT TRIGGER IF EXISTS waymark_companion_gin_indexes;
CREATE EVENT TRIGGER waymark_companion_gin_indexes ON ddl_command_end
  WHEN TAG IN ('CREATE INDEX')
  EXECUTE FUNCTION public.waymark_companion_gin_indexes();

COMMIT;
