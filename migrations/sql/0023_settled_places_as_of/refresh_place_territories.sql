-- Stores in place_territory which territory each of the given places shows on the dates it has one
-- (derive_place_territories as the record stands); called by the triggers of place and territory before they
-- refresh the same places' states, which read it. Only the rows that changed are rewritten (as
-- refresh_place_states does it: one statement, the DELETE run first through `gone`, anti joins by NOT EXISTS).
CREATE OR REPLACE FUNCTION refresh_place_territories(place_ids integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(place_ids) = 0 THEN
        RETURN;
    END IF;
    WITH wanted AS MATERIALIZED (
        SELECT * FROM derive_place_territories(NULL, place_ids)
    ), present AS MATERIALIZED (
        SELECT k.place_id, k.valid, k.territory_id FROM place_territory AS k WHERE k.place_id = ANY(place_ids)
    ), gone AS (
        DELETE FROM place_territory AS k
        WHERE k.place_id = ANY(place_ids)
          AND NOT EXISTS (SELECT 1 FROM wanted AS w WHERE (w.place_id, w.valid, w.territory_id) = (k.place_id, k.valid, k.territory_id))
        RETURNING 1
    )
    INSERT INTO place_territory (place_id, valid, territory_id)
    SELECT w.* FROM wanted AS w
    WHERE NOT EXISTS (SELECT 1 FROM present AS k WHERE (k.place_id, k.valid, k.territory_id) = (w.place_id, w.valid, w.territory_id))
      AND (SELECT count(*) FROM gone) >= 0;
END
$$;
