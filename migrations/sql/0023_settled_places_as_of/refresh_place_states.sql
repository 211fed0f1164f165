-- Stores the states of the given places in place_state (derive_place_states with as_of NULL); called by the
-- triggers of control_period, control_event, place and territory. Only the rows that changed are rewritten,
-- compared through one key with NULLs made values (disputed follows from rival_event_ids), by NOT EXISTS: a hash
-- anti join, which spills to disk when a statement refreshes ~100,000 places, where a NOT IN subplan over that
-- many rows rescanned them for every row (1,000 territories added at 100,000 places did not finish). The place's
-- point, slug, name and kind are copied with the row (place_changed keeps them), and the least zoom it shows at
-- (refresh_place_zooms keeps it).
-- Locking the places as recompute_control_periods does serialises this
-- with a concurrent writer of the same places, so neither stores states derived from what the other replaces.
CREATE OR REPLACE FUNCTION refresh_place_states(place_ids integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(place_ids) = 0 THEN
        RETURN;
    END IF;
    PERFORM 1 FROM place WHERE id = ANY(place_ids) ORDER BY id FOR NO KEY UPDATE;
    -- One statement, so the states are derived once: the INSERT reads the table as it was before the DELETE
    -- (one snapshot), which is right, since it skips only the rows wanted and present, which stay. Reading `gone`
    -- makes the DELETE run first, so a new row never meets the old one it replaces in the exclusion constraint.
    WITH wanted AS MATERIALIZED (
        SELECT * FROM derive_place_states(NULL, place_ids)
    ), present AS MATERIALIZED (
        SELECT s.place_id, s.valid, coalesce(s.actor_id, 0) AS actor_id, coalesce(s.status, '') AS status, coalesce(s.party_ids, '{}') AS party_ids, coalesce(s.control_event_id, 0) AS control_event_id, coalesce(s.uncertain_until, 'infinity') AS uncertain_until, coalesce(s.confidence, '') AS confidence, s.rival_event_ids, coalesce(s.territory_id, 0) AS territory_id, coalesce(s.min_zoom, 8) AS min_zoom FROM place_state AS s WHERE s.place_id = ANY(place_ids)
    ), gone AS (
        DELETE FROM place_state AS s
        WHERE s.place_id = ANY(place_ids)
          AND NOT EXISTS (SELECT 1 FROM wanted AS w WHERE (w.place_id, w.valid, coalesce(w.actor_id, 0), coalesce(w.status, ''), coalesce(w.party_ids, '{}'), coalesce(w.control_event_id, 0), coalesce(w.uncertain_until, 'infinity'), coalesce(w.confidence, ''), w.rival_event_ids, coalesce(w.territory_id, 0), coalesce(w.min_zoom, 8)) = (s.place_id, s.valid, coalesce(s.actor_id, 0), coalesce(s.status, ''), coalesce(s.party_ids, '{}'), coalesce(s.control_event_id, 0), coalesce(s.uncertain_until, 'infinity'), coalesce(s.confidence, ''), s.rival_event_ids, coalesce(s.territory_id, 0), coalesce(s.min_zoom, 8)))
        RETURNING 1
    )
    INSERT INTO place_state (place_id, valid, actor_id, status, party_ids, control_event_id, uncertain_until, geom, geom_3857, slug, name, kind, confidence, rival_event_ids, disputed, territory_id, min_zoom)
    SELECT w.* FROM wanted AS w
    WHERE NOT EXISTS (SELECT 1 FROM present AS k WHERE (k.place_id, k.valid, k.actor_id, k.status, k.party_ids, k.control_event_id, k.uncertain_until, k.confidence, k.rival_event_ids, k.territory_id, k.min_zoom) = (w.place_id, w.valid, coalesce(w.actor_id, 0), coalesce(w.status, ''), coalesce(w.party_ids, '{}'), coalesce(w.control_event_id, 0), coalesce(w.uncertain_until, 'infinity'), coalesce(w.confidence, ''), w.rival_event_ids, coalesce(w.territory_id, 0), coalesce(w.min_zoom, 8)))
      AND (SELECT count(*) FROM gone) >= 0;
END
$$;
