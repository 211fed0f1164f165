-- Stores the derived periods of the given places in control_period (called by the control_event triggers).
-- Locking the places first serialises concurrent writers of one place, so each recomputation sees the others'
-- committed events (every statement of a volatile function takes a new snapshot). NO KEY UPDATE, not UPDATE:
-- inserting an event takes a KEY SHARE lock on its place (the foreign key), which UPDATE would conflict with,
-- deadlocking two writers of the same place.
-- Only the periods that changed are rewritten: a new event usually ends the last period and opens one, so
-- deleting and re-inserting a place's whole history (and its GiST entries) would be most of a write's cost.
-- The periods are derived once, and compared through one key (place, valid, status, holder or 0, parties, event,
-- confidence, rival events; disputed follows from the rivals) by NOT EXISTS: a hash anti join, which spills to
-- disk when one statement touches tens of thousands of places, where a NOT IN subplan over more rows than
-- work_mem holds rescanned them for every row (20,000 events in one INSERT at 100,000 places: over 15 minutes).
CREATE OR REPLACE FUNCTION recompute_control_periods(place_ids integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM place WHERE id = ANY(place_ids) ORDER BY id FOR NO KEY UPDATE;
    -- One statement, as in refresh_place_states: the INSERT reads the table as it was before the DELETE (one
    -- snapshot), skipping only the periods derived and present, which stay; reading `gone` makes the DELETE run
    -- first, so a new period never meets the old one it replaces in the exclusion constraint.
    WITH derived AS MATERIALIZED (
        SELECT d.place_id, d.actor_id, d.status, d.party_ids, d.valid, d.control_event_id, d.confidence,
               d.rival_event_ids
        FROM derive_control_periods(NULL, place_ids) AS d
    ), present AS MATERIALIZED (
        SELECT cp.place_id, cp.valid, cp.status, coalesce(cp.actor_id, 0) AS actor_id, cp.party_ids,
               cp.control_event_id, cp.confidence, cp.rival_event_ids
        FROM control_period AS cp WHERE cp.place_id = ANY(place_ids)
    ), gone AS (
        DELETE FROM control_period AS cp
        WHERE cp.place_id = ANY(place_ids)
          AND NOT EXISTS (SELECT 1 FROM derived AS d WHERE (d.place_id, d.valid, d.status, coalesce(d.actor_id, 0), d.party_ids, d.control_event_id, d.confidence, d.rival_event_ids) = (cp.place_id, cp.valid, cp.status, coalesce(cp.actor_id, 0), cp.party_ids, cp.control_event_id, cp.confidence, cp.rival_event_ids))
        RETURNING 1
    )
    INSERT INTO control_period (place_id, actor_id, status, party_ids, valid, control_event_id, confidence,
                                rival_event_ids)
    SELECT d.* FROM derived AS d
    WHERE NOT EXISTS (SELECT 1 FROM present AS k WHERE (k.place_id, k.valid, k.status, k.actor_id, k.party_ids, k.control_event_id, k.confidence, k.rival_event_ids) = (d.place_id, d.valid, d.status, coalesce(d.actor_id, 0), d.party_ids, d.control_event_id, d.confidence, d.rival_event_ids))
      AND (SELECT count(*) FROM gone) >= 0;
END
$$;
