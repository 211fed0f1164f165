-- A new place's timeline (one stretch, unknown, split by the territories covering it) and a moved or renamed
-- place's copy of its point, slug, name and kind in place_state; a moved place may stand in other territories,
-- so which it shows, and its states, are refreshed too. A deleted place's rows go with it (foreign keys cascade).
CREATE OR REPLACE FUNCTION place_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    moved integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM refresh_place_territories(ARRAY(SELECT id FROM new_rows));
        PERFORM refresh_place_states(ARRAY(SELECT id FROM new_rows));
    ELSE
        UPDATE place_state AS s
        SET geom = n.geom, geom_3857 = ST_Transform(n.geom, 3857), slug = n.slug, name = n.name, kind = n.kind
        FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
        WHERE s.place_id = n.id
          AND (n.geom, n.slug, n.name, n.kind) IS DISTINCT FROM (o.geom, o.slug, o.name, o.kind);
        moved := ARRAY(
            SELECT n.id FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id WHERE n.geom IS DISTINCT FROM o.geom);
        PERFORM refresh_place_territories(moved);
        PERFORM refresh_place_states(moved);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER place_states_insert AFTER INSERT ON place
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION place_changed();

CREATE OR REPLACE TRIGGER place_states_update AFTER UPDATE ON place
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION place_changed();
