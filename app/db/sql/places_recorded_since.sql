-- The places among place_ids (NULL: every place) whose record changed after `as_of`: a version of the place, or
-- of an event that is or was at the place, recorded, superseded or retracted since. Only theirs can differ from
-- what is stored now (place_state, control_period), so derivations as of a moment derive those places and read
-- the others as stored (derive_control_periods, derive_place_states): an answer as of a recent moment costs
-- what changed since, not what it covers. Place versions are kept by the trigger record_versions, event
-- versions by record_event_versions, which every write of events calls (app/services/events.py).
-- A version's last change is its end when superseded, else its beginning (coalesce(upper, lower)): it changed
-- after as_of when that is later, and the versions' btree indexes on (place_id, last change) and (last change)
-- answer with one descent a place (a GiST probe of (place_id, recorded) cost ~17 µs a place).
CREATE OR REPLACE FUNCTION places_recorded_since(as_of timestamptz, place_ids integer[]) RETURNS integer[]
-- As the derivations: planned once a session, one generic plan whose branches not asked for are skipped.
LANGUAGE plpgsql STABLE SET jit = off SET max_parallel_workers_per_gather = 0
    SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN ARRAY(
        SELECT v.place_id FROM control_event_version AS v
        WHERE place_ids IS NOT NULL AND v.place_id = ANY(place_ids)
          AND coalesce(upper(v.recorded), lower(v.recorded)) > as_of
        UNION
        SELECT v.place_id FROM place_version AS v
        WHERE place_ids IS NOT NULL AND v.place_id = ANY(place_ids)
          AND coalesce(upper(v.recorded), lower(v.recorded)) > as_of
        UNION
        SELECT v.place_id FROM control_event_version AS v
        WHERE place_ids IS NULL AND coalesce(upper(v.recorded), lower(v.recorded)) > as_of
        UNION
        SELECT v.place_id FROM place_version AS v
        WHERE place_ids IS NULL AND coalesce(upper(v.recorded), lower(v.recorded)) > as_of
    );
END
$$;
