-- Which territory a read shows for a place on each date no control period covers: of the territories covering
-- the place's point (as the record stands, or stood at `as_of`, from territory_version and place_version), an
-- exact one over an approximate one, then the latest lower(valid) (NULLs first, as DESC sorts them), then the
-- lowest id. Returned as the stretches each territory wins (dates no territory covers have no row). It depends
-- on the territories and the places' points alone, not on the events: place_territory keeps it as the record
-- stands (refresh_place_territories), so deriving a place's states joins it instead of testing rings (~70 µs a
-- territory and place, 2.7 s for 1,000 places of the bench's large set). place_ids NULL = every place.
CREATE OR REPLACE FUNCTION derive_place_territories(as_of timestamptz, place_ids integer[])
RETURNS TABLE (place_id integer, valid daterange, territory_id integer)
-- As derive_control_periods: no JIT, no parallel workers, and plpgsql so the plan is made once a session.
LANGUAGE plpgsql STABLE SET jit = off SET max_parallel_workers_per_gather = 0
    SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN RETURN QUERY
    WITH places AS (
        SELECT p.id, p.geom FROM place AS p WHERE as_of IS NULL AND p.id = ANY(place_ids)
        UNION ALL
        SELECT p.id, p.geom FROM place AS p WHERE as_of IS NULL AND place_ids IS NULL
        UNION ALL
        SELECT v.place_id, v.geom
        FROM place_version AS v
        WHERE as_of IS NOT NULL AND v.place_id = ANY(place_ids) AND v.recorded @> as_of AND v.change <> 'deleted'
        UNION ALL
        SELECT v.place_id, v.geom
        FROM place_version AS v
        WHERE as_of IS NOT NULL AND place_ids IS NULL AND v.recorded @> as_of AND v.change <> 'deleted'
    ), covering AS (
        -- The territories covering each place's point, in the order they win; `ahead`, the dates of those
        -- ahead of each.
        SELECT c.place_id, c.id, c.valid,
               range_agg(c.valid) OVER (PARTITION BY c.place_id ORDER BY c.approximate, lower(c.valid) DESC, c.id
                                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS ahead
        FROM (SELECT p.id AS place_id, t.id, t.valid, t.approximate
              FROM places AS p JOIN territory AS t ON ST_Covers(t.geom, p.geom)
              WHERE as_of IS NULL
              UNION ALL
              SELECT p.id, t.territory_id, t.valid, t.approximate
              FROM places AS p JOIN territory_version AS t
                  ON ST_Covers(t.geom, p.geom) AND t.recorded @> as_of AND t.change <> 'deleted'
              WHERE as_of IS NOT NULL) AS c
    )
    SELECT c.place_id, won, c.id
    FROM covering AS c CROSS JOIN LATERAL unnest(datemultirange(c.valid) - coalesce(c.ahead, '{}')) AS won;
END
$$;
