-- Live feed: one notification per committed version (delivered at commit, in commit order); the payload is the
-- version's id. Versions of the other resources (places, actors...: record_versions.sql) notify the same channel. It only wakes the streams (app/db/listen.py listens; app/services/feed.py reads from the position
-- each stream stands at).
CREATE OR REPLACE FUNCTION control_event_version_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('control_event_version', NEW.id::text);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER control_event_version_notify AFTER INSERT ON control_event_version
FOR EACH ROW EXECUTE FUNCTION control_event_version_notify();

CREATE OR REPLACE TRIGGER source_version_notify AFTER INSERT ON source_version
FOR EACH ROW EXECUTE FUNCTION control_event_version_notify();

CREATE OR REPLACE TRIGGER actor_version_notify AFTER INSERT ON actor_version
FOR EACH ROW EXECUTE FUNCTION control_event_version_notify();

CREATE OR REPLACE TRIGGER coalition_version_notify AFTER INSERT ON coalition_version
FOR EACH ROW EXECUTE FUNCTION control_event_version_notify();

CREATE OR REPLACE TRIGGER coalition_membership_version_notify AFTER INSERT ON coalition_membership_version
FOR EACH ROW EXECUTE FUNCTION control_event_version_notify();

CREATE OR REPLACE TRIGGER place_version_notify AFTER INSERT ON place_version
FOR EACH ROW EXECUTE FUNCTION control_event_version_notify();

CREATE OR REPLACE TRIGGER place_name_version_notify AFTER INSERT ON place_name_version
FOR EACH ROW EXECUTE FUNCTION control_event_version_notify();

CREATE OR REPLACE TRIGGER territory_version_notify AFTER INSERT ON territory_version
FOR EACH ROW EXECUTE FUNCTION control_event_version_notify();

CREATE OR REPLACE TRIGGER front_line_version_notify AFTER INSERT ON front_line_version
FOR EACH ROW EXECUTE FUNCTION control_event_version_notify();
