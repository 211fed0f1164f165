-- The data version: one number that every committed write moves forward, so that a process can tell whether an
-- answer it keeps is still the answer (app/api/caching.py). A statement on a table that reads depend on marks its
-- transaction, once (a row in data_version_change); when that transaction commits, a deferred trigger adds one to
-- data_version.version and notifies 'data_version' with the new number. Bumping at commit, under the feed's
-- advisory lock (assign_feed_positions.sql), keeps the row locked for a commit's length only, gives versions in
-- commit order, and takes the two commit-time locks in one order (no deadlock between them).
CREATE OR REPLACE FUNCTION data_version_touched() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('territory.data_version_touched', true) IS DISTINCT FROM 'yes' THEN
        INSERT INTO data_version_change (xact) VALUES (pg_current_xact_id());
        PERFORM set_config('territory.data_version_touched', 'yes', true);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION data_version_bump() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    bumped bigint;
BEGIN
    PERFORM pg_advisory_xact_lock('control_event_version_position_seq'::regclass::oid::bigint);
    UPDATE data_version SET version = version + 1 RETURNING version INTO bumped;
    DELETE FROM data_version_change WHERE xact = NEW.xact;
    PERFORM pg_notify('data_version', bumped::text);
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS data_version_bump ON data_version_change;

CREATE CONSTRAINT TRIGGER data_version_bump AFTER INSERT ON data_version_change
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION data_version_bump();

-- Every table a read depends on, listed once: a new table is added here (and the file snapshotted again).
DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY[
        'source', 'actor', 'coalition', 'coalition_membership', 'place', 'place_name', 'control_event',
        'control_event_source', 'control_event_version', 'control_period', 'territory', 'front_line'
    ] LOOP
        EXECUTE format(
            'CREATE OR REPLACE TRIGGER data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
            'FOR EACH STATEMENT EXECUTE FUNCTION data_version_touched()',
            name
        );
    END LOOP;
END
$$;

-- api_key too (a key's name is in the events' history), but not the last-used stamp admit_api_key() writes: no answer
-- shows it, and a keyed read moving the version (once a minute a key) would empty every process's cache and change
-- every ETag. So its updates count by column: every column but last_used_at (tests/api/test_key_last_used.py fails
-- when api_key has a column this list lacks).
CREATE OR REPLACE TRIGGER data_version
AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF id, name, prefix, secret_sha256, scope, created_at, revoked_at
ON api_key
FOR EACH STATEMENT EXECUTE FUNCTION data_version_touched();
