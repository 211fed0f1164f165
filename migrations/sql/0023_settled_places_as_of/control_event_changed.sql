-- Keeps control_period derived from control_event: once per statement (transition tables), for the places the
-- statement touched, whatever wrote the events (the API, territory ingest, the seed, psql).
CREATE OR REPLACE FUNCTION control_event_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    touched integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        touched := ARRAY(SELECT DISTINCT place_id FROM new_rows);
    ELSIF TG_OP = 'DELETE' THEN
        touched := ARRAY(SELECT DISTINCT place_id FROM old_rows);
    ELSE
        touched := ARRAY(SELECT place_id FROM new_rows UNION SELECT place_id FROM old_rows);
    END IF;
    PERFORM recompute_control_periods(touched);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER control_event_periods_insert AFTER INSERT ON control_event
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION control_event_changed();

CREATE OR REPLACE TRIGGER control_event_periods_update AFTER UPDATE ON control_event
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION control_event_changed();

CREATE OR REPLACE TRIGGER control_event_periods_delete AFTER DELETE ON control_event
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION control_event_changed();
