-- Each place's whole timeline, as stretches that together cover every date once: its control periods (as they
-- stand now, from control_period, when as_of is NULL; as recorded at `as_of`, derived from the versions by
-- derive_control_periods), and the stretches no period covers (status unknown: no holder, no event). With each
-- row, what a map shows that is not in the period itself: the end of the uncertainty window of the period's
-- event (a month-precision event may have happened any day of its month, so until then the state is only
-- possible), and the place's point (EPSG:4326 and web mercator), slug, name and kind, and the least zoom a
-- places tile shows it at below z8 (place_zoom; NULL: from z8), so that a tile or a map of a date reads one row
-- per place from one index and joins nothing per place. place_ids NULL = every place.
-- The period's confidence and rival claims are copied with it (NULL, none and not disputed for a stretch no
-- period covers). min_confidence (as derive_control_periods) derives the periods from the surer events only.
-- A stretch no period covers is split by the territories covering the place's point, each piece carrying the
-- territory a read of a date in it shows (territory_id, NULL: none; derive_place_territories says which), so a
-- read joins that territory by its key instead of testing its rings (~80 µs a place, app/db/queries/control.py).
-- Which territory is read from place_territory, unless `as_of` is given and a territory was written after it (or
-- a place asked about moved): then it is derived from territory_version as it stood, testing the rings.
-- As of a moment, the places are those recorded then, with the point, slug, name and kind they had.
-- place_state holds what this returns with as_of and min_confidence NULL (refresh_place_states); as_of and
-- confidence= answers read it directly.
CREATE OR REPLACE FUNCTION derive_place_states(as_of timestamptz, place_ids integer[],
                                               min_confidence text DEFAULT NULL)
RETURNS TABLE (place_id integer, valid daterange, actor_id integer, status text, party_ids integer[],
               control_event_id integer, uncertain_until date, geom geometry, geom_3857 geometry, slug text,
               name text, kind text, confidence text, rival_event_ids integer[], disputed boolean,
               territory_id integer, min_zoom smallint)
-- As derive_control_periods: no JIT and no parallel workers for what is, for a few places, a millisecond;
-- plpgsql, so the plan is made once a session.
LANGUAGE plpgsql STABLE SET jit = off SET max_parallel_workers_per_gather = 0
    SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    changed_places integer[];
BEGIN
    -- As of a moment, a place whose record has not changed since (places_recorded_since), when no territory was
    -- written since either, has the states stored now: those are read, and only the others are derived.
    IF as_of IS NOT NULL AND min_confidence IS NULL
       AND NOT coalesce((SELECT max(lower(t.recorded)) FROM territory_version AS t) > as_of, false) THEN
        changed_places := places_recorded_since(as_of, place_ids);
        RETURN QUERY
            SELECT s.place_id, s.valid, s.actor_id, s.status::text, s.party_ids, s.control_event_id,
                   s.uncertain_until, s.geom, s.geom_3857, s.slug::text, s.name, s.kind::text, s.confidence::text,
                   s.rival_event_ids, s.disputed, s.territory_id, s.min_zoom
            FROM place_state AS s
            WHERE s.place_id = ANY(place_ids)
              AND NOT EXISTS (SELECT 1 FROM unnest(changed_places) AS c(id) WHERE c.id = s.place_id)
            UNION ALL
            SELECT s.place_id, s.valid, s.actor_id, s.status::text, s.party_ids, s.control_event_id,
                   s.uncertain_until, s.geom, s.geom_3857, s.slug::text, s.name, s.kind::text, s.confidence::text,
                   s.rival_event_ids, s.disputed, s.territory_id, s.min_zoom
            FROM place_state AS s
            WHERE place_ids IS NULL
              AND NOT EXISTS (SELECT 1 FROM unnest(changed_places) AS c(id) WHERE c.id = s.place_id);
        IF cardinality(changed_places) = 0 THEN
            RETURN;
        END IF;
        place_ids := changed_places;
    END IF;
    RETURN QUERY
    -- One branch per case, each a plain condition an index serves (see derive_control_periods).
    WITH located AS (
        SELECT p.id, p.geom, p.slug, p.name, p.kind FROM place AS p WHERE as_of IS NULL AND p.id = ANY(place_ids)
        UNION ALL
        SELECT p.id, p.geom, p.slug, p.name, p.kind FROM place AS p WHERE as_of IS NULL AND place_ids IS NULL
        UNION ALL
        -- As of a moment, the places recorded then, where and as they stood (a place moved, renamed or added
        -- since shows as it was, or not at all).
        SELECT v.place_id, v.geom, v.slug, v.name, v.kind
        FROM place_version AS v
        WHERE as_of IS NOT NULL AND v.place_id = ANY(place_ids) AND v.recorded @> as_of AND v.change <> 'deleted'
        UNION ALL
        SELECT v.place_id, v.geom, v.slug, v.name, v.kind
        FROM place_version AS v
        WHERE as_of IS NOT NULL AND place_ids IS NULL AND v.recorded @> as_of AND v.change <> 'deleted'
    ), places AS (
        -- Each place's least zoom, looked up by key: as a join, the plan (made for any number of places) hashed
        -- every place_zoom row for a read of one place.
        SELECT l.*, (SELECT z.min_zoom FROM place_zoom AS z WHERE z.place_id = l.id) AS min_zoom FROM located AS l
    ), periods AS (
        SELECT q.place_id, q.valid, q.actor_id, q.status, q.party_ids, q.control_event_id, e.precision,
               q.confidence, q.rival_event_ids, q.disputed
        FROM control_period AS q JOIN control_event AS e ON e.id = q.control_event_id
        WHERE as_of IS NULL AND min_confidence IS NULL AND q.place_id = ANY(place_ids)
        UNION ALL
        SELECT q.place_id, q.valid, q.actor_id, q.status, q.party_ids, q.control_event_id, e.precision,
               q.confidence, q.rival_event_ids, q.disputed
        FROM control_period AS q JOIN control_event AS e ON e.id = q.control_event_id
        WHERE as_of IS NULL AND min_confidence IS NULL AND place_ids IS NULL
        UNION ALL
        -- The event's precision looked up per period: as a join, the planner hashed every event there is (the
        -- function is estimated at 1,000 rows).
        SELECT d.place_id, d.valid, d.actor_id, d.status, d.party_ids, d.control_event_id,
               (SELECT e.precision FROM control_event AS e WHERE e.id = d.control_event_id),
               d.confidence, d.rival_event_ids, d.disputed
        FROM derive_control_periods(NULL, place_ids, min_confidence) AS d
        WHERE as_of IS NULL AND min_confidence IS NOT NULL
        UNION ALL
        -- The event's precision as it stood (every period's event has a version then), looked up the same way.
        SELECT d.place_id, d.valid, d.actor_id, d.status, d.party_ids, d.control_event_id,
               (SELECT v.precision FROM control_event_version AS v
                WHERE v.control_event_id = d.control_event_id AND v.recorded @> as_of),
               d.confidence, d.rival_event_ids, d.disputed
        FROM derive_control_periods(as_of, place_ids, min_confidence) AS d
        WHERE as_of IS NOT NULL
    ), uncovered AS (
        -- The rest of the timeline (all of it for a place without events): no period.
        SELECT p.id AS place_id, datemultirange(daterange(NULL, NULL)) - coalesce(k.covered, '{}') AS rest
        FROM places AS p
        LEFT JOIN (SELECT s.place_id, range_agg(s.valid) AS covered FROM periods AS s GROUP BY s.place_id) AS k
            ON k.place_id = p.id
    ), territories_since AS (
        -- Whether the territories changed after as_of (a version recorded since), or a place asked about was
        -- moved or deleted since: only then does place_territory (today's territories over today's points) differ.
        -- (The latest version's time, from ix_territory_version_recorded_from: an EXISTS over the versions
        -- recorded after as_of was planned, without as_of's value, as a scan of every version.)
        SELECT as_of IS NOT NULL
               AND (coalesce((SELECT max(lower(t.recorded)) FROM territory_version AS t) > as_of, false)
                    OR EXISTS (SELECT 1 FROM places AS p LEFT JOIN place AS now ON now.id = p.id
                               WHERE now.id IS NULL OR NOT ST_Equals(now.geom, p.geom))) AS changed
    ), winners AS (
        SELECT w.place_id, w.valid, w.territory_id
        FROM place_territory AS w
        WHERE w.place_id = ANY(place_ids) AND NOT (SELECT changed FROM territories_since)
        UNION ALL
        SELECT w.place_id, w.valid, w.territory_id
        FROM place_territory AS w
        WHERE place_ids IS NULL AND NOT (SELECT changed FROM territories_since)
        UNION ALL
        SELECT d.place_id, d.valid, d.territory_id
        FROM derive_place_territories(as_of, place_ids) AS d
        WHERE (SELECT changed FROM territories_since)
    ), shares AS (
        -- Each territory's share of the uncovered dates; then the dates no territory covers.
        SELECT u.place_id, w.territory_id, u.rest * datemultirange(w.valid) AS dates
        FROM uncovered AS u JOIN winners AS w ON w.place_id = u.place_id
        UNION ALL
        SELECT u.place_id, NULL, u.rest - coalesce(a.anywhere, '{}')
        FROM uncovered AS u
        LEFT JOIN (SELECT w.place_id, range_agg(w.valid) AS anywhere FROM winners AS w GROUP BY w.place_id) AS a
            ON a.place_id = u.place_id
    ), stretches AS (
        SELECT s.place_id, s.valid, s.actor_id, s.status, s.party_ids, s.control_event_id,
               (lower(s.valid) + CASE s.precision WHEN 'month' THEN interval '1 month'
                                                  WHEN 'year' THEN interval '1 year' END)::date AS uncertain_until,
               s.confidence, s.rival_event_ids, s.disputed, NULL::integer AS territory_id
        FROM periods AS s
        UNION ALL
        SELECT h.place_id, piece, NULL, NULL, NULL, NULL, NULL, NULL, '{}'::integer[], false, h.territory_id
        FROM shares AS h CROSS JOIN LATERAL unnest(h.dates) AS piece
    )
    -- (varchar columns cast, as derive_control_periods)
    SELECT s.place_id, s.valid, s.actor_id, s.status::text, s.party_ids, s.control_event_id, s.uncertain_until,
           p.geom, ST_Transform(p.geom, 3857), p.slug::text, p.name, p.kind::text, s.confidence::text,
           s.rival_event_ids, s.disputed, s.territory_id, p.min_zoom
    FROM stretches AS s JOIN places AS p ON p.id = s.place_id;
END
$$;
