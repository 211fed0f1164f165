-- A corrected precision changes no period (the same event still begins it) but changes its uncertainty window,
-- which place_state keeps: the places of events whose precision changed are refreshed.
CREATE OR REPLACE FUNCTION control_event_precision_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_place_states(ARRAY(
        SELECT DISTINCT n.place_id FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
        WHERE n.precision IS DISTINCT FROM o.precision));
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER control_event_precision_update AFTER UPDATE ON control_event
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
EXECUTE FUNCTION control_event_precision_changed();
