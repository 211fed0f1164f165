-- Keeps place_state derived from control_period: once per statement (transition tables), for the places the
-- statement touched, whatever wrote the periods (recompute_control_periods, a cascade from a deleted event).
CREATE OR REPLACE FUNCTION control_period_changed() RETURNS trigger
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
    PERFORM refresh_place_states(touched);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER control_period_states_insert AFTER INSERT ON control_period
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION control_period_changed();

CREATE OR REPLACE TRIGGER control_period_states_update AFTER UPDATE ON control_period
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION control_period_changed();

CREATE OR REPLACE TRIGGER control_period_states_delete AFTER DELETE ON control_period
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION control_period_changed();
