-- Stores the derived periods of the given places in control_period (called by the control_event triggers).
-- Locking the places first serialises concurrent writers of one place, so each recomputation sees the others'
-- committed events (every statement of a volatile function takes a new snapshot). NO KEY UPDATE, not UPDATE:
-- inserting an event takes a KEY SHARE lock on its place (the foreign key), which UPDATE would conflict with,
-- deadlocking two writers of the same place.
-- Only the periods that changed are rewritten: a new event usually ends the last period and opens one, so
-- deleting and re-inserting a place's whole history (and its GiST entries) would be most of a write's cost.
-- The derivation runs once per statement (MATERIALIZED) and is compared through one hashable key (place, valid,
-- status, holder or 0, parties, event, confidence, rival events), so each statement is a hash anti-join: as a correlated subquery it ran
-- once per period.
CREATE OR REPLACE FUNCTION recompute_control_periods(place_ids integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM place WHERE id = ANY(place_ids) ORDER BY id FOR NO KEY UPDATE;
    WITH derived AS MATERIALIZED (SELECT * FROM derive_control_periods(NULL, place_ids))
    DELETE FROM control_period AS cp
    WHERE cp.place_id = ANY(place_ids)
      AND (cp.place_id, cp.valid, cp.status, coalesce(cp.actor_id, 0), cp.party_ids, cp.control_event_id, cp.confidence, cp.rival_event_ids) NOT IN (SELECT d.place_id, d.valid, d.status, coalesce(d.actor_id, 0), d.party_ids, d.control_event_id, d.confidence, d.rival_event_ids FROM derived AS d);
    WITH derived AS MATERIALIZED (SELECT * FROM derive_control_periods(NULL, place_ids))
    -- disputed is generated from rival_event_ids.
    INSERT INTO control_period (place_id, actor_id, status, party_ids, valid, control_event_id, confidence,
                                rival_event_ids)
    SELECT d.place_id, d.actor_id, d.status, d.party_ids, d.valid, d.control_event_id, d.confidence,
           d.rival_event_ids
    FROM derived AS d
    WHERE (d.place_id, d.valid, d.status, coalesce(d.actor_id, 0), d.party_ids, d.control_event_id, d.confidence, d.rival_event_ids) NOT IN (
        SELECT cp.place_id, cp.valid, cp.status, coalesce(cp.actor_id, 0), cp.party_ids, cp.control_event_id, cp.confidence, cp.rival_event_ids FROM control_period AS cp WHERE cp.place_id = ANY(place_ids));
END
$$;
