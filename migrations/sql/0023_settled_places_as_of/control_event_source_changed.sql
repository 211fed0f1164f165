-- Rival claims of a day are resolved by their sources (app/db/sql/derive_control_periods.sql): which they share,
-- how many, how recent. Sources are linked after their events are inserted, and a source's date can be
-- corrected, so the periods of the places concerned are recomputed then too: only places where one of the
-- events concerned shares its day with another live event, since a day with one event does not depend on its
-- sources (a usual write links sources to lone events and recomputes nothing here).
CREATE OR REPLACE FUNCTION control_event_source_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    event_ids integer[];
    touched integer[];
BEGIN
    IF TG_TABLE_NAME = 'source' THEN
        event_ids := ARRAY(SELECT es.control_event_id FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
                           JOIN control_event_source AS es ON es.source_id = n.id
                           WHERE n.published_on IS DISTINCT FROM o.published_on);
    ELSIF TG_OP = 'INSERT' THEN
        event_ids := ARRAY(SELECT control_event_id FROM new_rows);
    ELSE
        event_ids := ARRAY(SELECT control_event_id FROM old_rows);
    END IF;
    touched := ARRAY(
        SELECT DISTINCT e.place_id FROM control_event AS e
        WHERE e.id = ANY(event_ids) AND e.retracted_at IS NULL
          AND EXISTS (SELECT 1 FROM control_event AS o
                      WHERE o.place_id = e.place_id AND o.occurred_on = e.occurred_on AND o.id <> e.id
                        AND o.retracted_at IS NULL));
    IF cardinality(touched) > 0 THEN
        PERFORM recompute_control_periods(touched);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER control_event_source_periods_insert AFTER INSERT ON control_event_source
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION control_event_source_changed();

CREATE OR REPLACE TRIGGER control_event_source_periods_delete AFTER DELETE ON control_event_source
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION control_event_source_changed();

CREATE OR REPLACE TRIGGER source_periods_update AFTER UPDATE ON source
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION control_event_source_changed();
