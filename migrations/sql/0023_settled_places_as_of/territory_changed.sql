-- Keeps place_territory, and place_state's territory pieces (derive_place_states), exact: once per statement
-- (transition tables), the places covered by a territory added, deleted, or changed where it matters (rings,
-- validity, approximate; a change of actor or source changes no piece, the reads join them by id) are
-- refreshed, by the old rings and the new ones.
CREATE OR REPLACE FUNCTION territory_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    covered integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        covered := ARRAY(SELECT DISTINCT p.id FROM new_rows AS t JOIN place AS p ON ST_Covers(t.geom, p.geom));
    ELSIF TG_OP = 'DELETE' THEN
        covered := ARRAY(SELECT DISTINCT p.id FROM old_rows AS t JOIN place AS p ON ST_Covers(t.geom, p.geom));
    ELSE
        covered := ARRAY(
            SELECT DISTINCT p.id
            FROM (SELECT o.geom FROM old_rows AS o
                  WHERE NOT EXISTS (SELECT 1 FROM new_rows AS n
                                    WHERE (n.id, n.geom, n.valid, n.approximate) = (o.id, o.geom, o.valid, o.approximate))
                  UNION ALL
                  SELECT n.geom FROM new_rows AS n
                  WHERE NOT EXISTS (SELECT 1 FROM old_rows AS o
                                    WHERE (n.id, n.geom, n.valid, n.approximate) = (o.id, o.geom, o.valid, o.approximate)))
                AS t
            JOIN place AS p ON ST_Covers(t.geom, p.geom));
    END IF;
    PERFORM refresh_place_territories(covered);
    PERFORM refresh_place_states(covered);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER territory_states_insert AFTER INSERT ON territory
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION territory_changed();

CREATE OR REPLACE TRIGGER territory_states_update AFTER UPDATE ON territory
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION territory_changed();

CREATE OR REPLACE TRIGGER territory_states_delete AFTER DELETE ON territory
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION territory_changed();
