-- Live feed: one notification per committed version (delivered at commit, in commit order); the payload is the
-- version's id. It only wakes the streams (app/db/listen.py listens; app/services/feed.py reads from the position
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
