-- The feed's positions (control_event_version.position), handed out in commit order: why, in
-- migrations/versions/20261201_0006_feed_positions.py. A deferred constraint trigger fires when a transaction
-- that wrote versions commits; its first firing takes a transaction-scoped advisory lock, which PostgreSQL
-- releases only once the commit is visible, and numbers every version the transaction wrote. A writer committing
-- later waits for that lock and numbers after it, so a reader that sees a position sees every smaller one. Only
-- this database's writers of events take the lock: a transaction open elsewhere on the server holds nothing back.
CREATE OR REPLACE FUNCTION assign_feed_positions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Once per transaction: the later firings (one per version written) find the work done.
    IF current_setting('territory.feed_positions_assigned', true) IS DISTINCT FROM 'yes' THEN
        PERFORM pg_advisory_xact_lock('control_event_version_position_seq'::regclass::oid::bigint);
        UPDATE control_event_version AS v SET position = n.position
        FROM (SELECT o.id, nextval('control_event_version_position_seq') AS position
              FROM (SELECT id FROM control_event_version WHERE position IS NULL ORDER BY id) AS o) AS n
        WHERE v.id = n.id;
        -- The other resources' versions share the sequence (one feed, one order: app/db/queries/history.py).
        -- Static statements, not one EXECUTE in a loop: their plans are kept, a commit pays no planning.
        UPDATE source_version AS v SET position = n.position
        FROM (SELECT o.id, nextval('control_event_version_position_seq') AS position
              FROM (SELECT id FROM source_version WHERE position IS NULL ORDER BY id) AS o) AS n
        WHERE v.id = n.id;
        UPDATE actor_version AS v SET position = n.position
        FROM (SELECT o.id, nextval('control_event_version_position_seq') AS position
              FROM (SELECT id FROM actor_version WHERE position IS NULL ORDER BY id) AS o) AS n
        WHERE v.id = n.id;
        UPDATE coalition_version AS v SET position = n.position
        FROM (SELECT o.id, nextval('control_event_version_position_seq') AS position
              FROM (SELECT id FROM coalition_version WHERE position IS NULL ORDER BY id) AS o) AS n
        WHERE v.id = n.id;
        UPDATE coalition_membership_version AS v SET position = n.position
        FROM (SELECT o.id, nextval('control_event_version_position_seq') AS position
              FROM (SELECT id FROM coalition_membership_version WHERE position IS NULL ORDER BY id) AS o) AS n
        WHERE v.id = n.id;
        UPDATE place_version AS v SET position = n.position
        FROM (SELECT o.id, nextval('control_event_version_position_seq') AS position
              FROM (SELECT id FROM place_version WHERE position IS NULL ORDER BY id) AS o) AS n
        WHERE v.id = n.id;
        UPDATE place_name_version AS v SET position = n.position
        FROM (SELECT o.id, nextval('control_event_version_position_seq') AS position
              FROM (SELECT id FROM place_name_version WHERE position IS NULL ORDER BY id) AS o) AS n
        WHERE v.id = n.id;
        UPDATE territory_version AS v SET position = n.position
        FROM (SELECT o.id, nextval('control_event_version_position_seq') AS position
              FROM (SELECT id FROM territory_version WHERE position IS NULL ORDER BY id) AS o) AS n
        WHERE v.id = n.id;
        UPDATE front_line_version AS v SET position = n.position
        FROM (SELECT o.id, nextval('control_event_version_position_seq') AS position
              FROM (SELECT id FROM front_line_version WHERE position IS NULL ORDER BY id) AS o) AS n
        WHERE v.id = n.id;
        PERFORM set_config('territory.feed_positions_assigned', 'yes', true);
    END IF;
    RETURN NULL;
END
$$;

-- A constraint trigger has no OR REPLACE: dropped and created again, so the file can run over itself.
DROP TRIGGER IF EXISTS assign_feed_positions ON control_event_version;

CREATE CONSTRAINT TRIGGER assign_feed_positions AFTER INSERT ON control_event_version
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION assign_feed_positions();

DROP TRIGGER IF EXISTS assign_feed_positions ON source_version;

CREATE CONSTRAINT TRIGGER assign_feed_positions AFTER INSERT ON source_version
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION assign_feed_positions();

DROP TRIGGER IF EXISTS assign_feed_positions ON actor_version;

CREATE CONSTRAINT TRIGGER assign_feed_positions AFTER INSERT ON actor_version
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION assign_feed_positions();

DROP TRIGGER IF EXISTS assign_feed_positions ON coalition_version;

CREATE CONSTRAINT TRIGGER assign_feed_positions AFTER INSERT ON coalition_version
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION assign_feed_positions();

DROP TRIGGER IF EXISTS assign_feed_positions ON coalition_membership_version;

CREATE CONSTRAINT TRIGGER assign_feed_positions AFTER INSERT ON coalition_membership_version
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION assign_feed_positions();

DROP TRIGGER IF EXISTS assign_feed_positions ON place_version;

CREATE CONSTRAINT TRIGGER assign_feed_positions AFTER INSERT ON place_version
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION assign_feed_positions();

DROP TRIGGER IF EXISTS assign_feed_positions ON place_name_version;

CREATE CONSTRAINT TRIGGER assign_feed_positions AFTER INSERT ON place_name_version
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION assign_feed_positions();

DROP TRIGGER IF EXISTS assign_feed_positions ON territory_version;

CREATE CONSTRAINT TRIGGER assign_feed_positions AFTER INSERT ON territory_version
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION assign_feed_positions();

DROP TRIGGER IF EXISTS assign_feed_positions ON front_line_version;

CREATE CONSTRAINT TRIGGER assign_feed_positions AFTER INSERT ON front_line_version
DEFERRABLE INITIALLY DEFERRED
FOR EACH ROW EXECUTE FUNCTION assign_feed_positions();
