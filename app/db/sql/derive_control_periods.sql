-- Periods derived from events, as they stand now (as_of NULL) or as they were recorded at `as_of` (from the
-- versions). One derivation for both, so a reconstructed answer follows exactly the rules of the live one:
-- each day's state holds from its date until the next day with events; consecutive days with the same holder,
-- status, parties and rival claims merge into one period that began with the first of them. place_ids NULL =
-- every place; min_confidence ('confirmed', 'reported', NULL = all) keeps only the events at least that sure.
-- recompute_control_periods stores what this returns; the API's as_of and confidence answers read it directly.
--
-- A day with several events is resolved (the README's "resolution rule"):
-- 1. An event its own source revised later that day (a higher seq, then recording order, sharing a source;
--    events without sources count as one source) is that source's own sequence of the day, not a claim.
-- 2. The remaining events are the day's claims. Each claimed state (holder, status, parties) counts its best
--    confidence (confirmed > reported > claimed), its independent sources (distinct, over the events claiming
--    it) and its latest report (the newest published_on of those sources). The state ranking first on these,
--    in that order, is the day's state; a tie goes to the later seq, then the smaller external_id. The best
--    event of that state (same order) is the period's event. A period's confidence is that of the surest claim
--    giving its state since the state began.
-- 3. The day's other claims (events whose state differs) are its rivals: a period with rivals is disputed.
-- Nothing in the rule depends on recording order except step 1 within one source, so rival claims resolve to
-- the same state whatever order they arrive in.
CREATE OR REPLACE FUNCTION derive_control_periods(as_of timestamptz, place_ids integer[],
                                                  min_confidence text DEFAULT NULL)
RETURNS TABLE (place_id integer, actor_id integer, status text, party_ids integer[], valid daterange,
               control_event_id integer, confidence text, disputed boolean, rival_event_ids integer[])
-- The branch over every event makes the plan look expensive: no JIT compilation (half a second) and no
-- parallel workers (their start-up) for what is, for a few places, a millisecond of work.
-- plpgsql, not sql: a SQL function with SET clauses is never inlined, and PostgreSQL 15 plans its body again at
-- every call (5 ms here, for an as_of read of one place that then runs in one); plpgsql keeps the plan for the
-- session. The generic plan (made without the arguments' values, as the SQL function's always was): one plan
-- serves one place and every place, its branches whose case does not hold skipped at run time.
LANGUAGE plpgsql STABLE SET jit = off SET max_parallel_workers_per_gather = 0
    SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    changed_places integer[];
BEGIN
    -- As of a moment, a place whose record has not changed since has the periods stored now: those are read,
    -- and only the places changed since are derived from the versions (places_recorded_since). With
    -- min_confidence nothing stored applies.
    IF as_of IS NOT NULL AND min_confidence IS NULL THEN
        changed_places := places_recorded_since(as_of, place_ids);
        RETURN QUERY
            SELECT q.place_id, q.actor_id, q.status::text, q.party_ids, q.valid, q.control_event_id,
                   q.confidence::text, q.disputed, q.rival_event_ids
            FROM control_period AS q
            WHERE q.place_id = ANY(place_ids)
              AND NOT EXISTS (SELECT 1 FROM unnest(changed_places) AS c(id) WHERE c.id = q.place_id)
            UNION ALL
            SELECT q.place_id, q.actor_id, q.status::text, q.party_ids, q.valid, q.control_event_id,
                   q.confidence::text, q.disputed, q.rival_event_ids
            FROM control_period AS q
            WHERE place_ids IS NULL
              AND NOT EXISTS (SELECT 1 FROM unnest(changed_places) AS c(id) WHERE c.id = q.place_id);
        IF cardinality(changed_places) = 0 THEN
            RETURN;
        END IF;
        place_ids := changed_places;
    END IF;
    RETURN QUERY
    -- One branch per case, each a plain condition an index serves: a single "place_ids IS NULL OR place_id =
    -- ANY(place_ids)" is planned once for both cases, as a scan of every event (1.5 s for 1,000 places at 1M
    -- events, instead of milliseconds). The branches whose case does not hold are skipped at run time.
    -- Live events carry no source list (NULL): it is looked up only for days with several events.
    WITH events AS (
        SELECT e.id, e.external_id, e.place_id, e.actor_id, e.status, e.occurred_on, e.seq, e.party_ids,
               e.confidence, NULL::integer[] AS source_ids
        FROM control_event AS e
        WHERE as_of IS NULL AND e.place_id = ANY(place_ids) AND e.retracted_at IS NULL
        UNION ALL
        SELECT e.id, e.external_id, e.place_id, e.actor_id, e.status, e.occurred_on, e.seq, e.party_ids,
               e.confidence, NULL::integer[]
        FROM control_event AS e
        WHERE as_of IS NULL AND place_ids IS NULL AND e.retracted_at IS NULL
        UNION ALL
        SELECT v.control_event_id, v.external_id, v.place_id, v.actor_id, v.status, v.occurred_on, v.seq,
               v.party_ids, v.confidence, v.source_ids
        FROM control_event_version AS v
        WHERE as_of IS NOT NULL AND v.place_id = ANY(place_ids)
          AND v.recorded @> as_of AND v.change <> 'retracted'
        UNION ALL
        SELECT v.control_event_id, v.external_id, v.place_id, v.actor_id, v.status, v.occurred_on, v.seq,
               v.party_ids, v.confidence, v.source_ids
        FROM control_event_version AS v
        WHERE as_of IS NOT NULL AND place_ids IS NULL AND v.recorded @> as_of AND v.change <> 'retracted'
    ), ranked AS (
        SELECT e.*, CASE e.confidence WHEN 'confirmed' THEN 3 WHEN 'reported' THEN 2 ELSE 1 END AS sure
        FROM events AS e
    ), kept AS (
        SELECT r.id, r.external_id, r.place_id, r.actor_id, r.status, r.occurred_on, r.seq, r.confidence,
               r.sure, r.source_ids,
               ARRAY(SELECT DISTINCT p FROM unnest(r.party_ids) AS p ORDER BY p) AS party_ids,
               count(*) OVER (PARTITION BY r.place_id, r.occurred_on) AS on_day,
               row_number() OVER (PARTITION BY r.place_id, r.occurred_on ORDER BY r.seq, r.id) AS in_day
        FROM ranked AS r
        WHERE min_confidence IS NULL
           OR r.sure >= CASE min_confidence WHEN 'confirmed' THEN 3 WHEN 'reported' THEN 2 ELSE 1 END
    ), crowded AS MATERIALIZED (
        -- The events of days with several, with their sources.
        SELECT k.*, coalesce(k.source_ids, ARRAY(SELECT s.source_id FROM control_event_source AS s
                                                 WHERE s.control_event_id = k.id ORDER BY s.source_id)) AS sources
        FROM kept AS k WHERE k.on_day > 1
    ), claims AS (
        SELECT c.* FROM crowded AS c
        WHERE NOT EXISTS (
            SELECT 1 FROM crowded AS l
            WHERE l.place_id = c.place_id AND l.occurred_on = c.occurred_on AND l.in_day > c.in_day
              AND (l.sources && c.sources OR (l.sources = '{}' AND c.sources = '{}')))
    ), support AS (
        SELECT c.place_id, c.occurred_on, c.actor_id, c.status, c.party_ids, max(c.sure) AS sure,
               count(DISTINCT s.id) AS sources, max(s.published_on) AS reported_on
        FROM claims AS c
        LEFT JOIN LATERAL unnest(c.sources) AS u(id) ON true
        LEFT JOIN source AS s ON s.id = u.id
        GROUP BY c.place_id, c.occurred_on, c.actor_id, c.status, c.party_ids
    ), winners AS (
        SELECT DISTINCT ON (c.place_id, c.occurred_on) c.*
        FROM claims AS c
        JOIN support AS w ON (w.place_id, w.occurred_on, coalesce(w.actor_id, 0), w.status, w.party_ids)
                           = (c.place_id, c.occurred_on, coalesce(c.actor_id, 0), c.status, c.party_ids)
        ORDER BY c.place_id, c.occurred_on, w.sure DESC, w.sources DESC, w.reported_on DESC NULLS LAST,
                 c.sure DESC, c.seq DESC, c.external_id
    ), days AS (
        SELECT k.id, k.place_id, k.actor_id, k.status, k.party_ids, k.occurred_on, k.sure,
               '{}'::integer[] AS rivals
        FROM kept AS k WHERE k.on_day = 1
        UNION ALL
        SELECT w.id, w.place_id, w.actor_id, w.status, w.party_ids, w.occurred_on, w.sure,
               ARRAY(SELECT c.id FROM claims AS c
                     WHERE c.place_id = w.place_id AND c.occurred_on = w.occurred_on
                       AND (c.actor_id, c.status, c.party_ids) IS DISTINCT FROM (w.actor_id, w.status, w.party_ids)
                     ORDER BY c.id)
        FROM winners AS w
    ), changes AS (
        SELECT *, lead(occurred_on) OVER w AS next_on,
               CASE WHEN lag((actor_id, status, party_ids, rivals)) OVER w
                         IS NOT DISTINCT FROM (actor_id, status, party_ids, rivals)
                    THEN 0 ELSE 1 END AS starts_period,
               CASE WHEN lag((actor_id, status, party_ids)) OVER w IS NOT DISTINCT FROM (actor_id, status, party_ids)
                    THEN 0 ELSE 1 END AS starts_state
        FROM days
        WINDOW w AS (PARTITION BY place_id ORDER BY occurred_on)
    ), numbered AS (
        SELECT *, sum(starts_period) OVER w AS period_no, sum(starts_state) OVER w AS state_no
        FROM changes
        WINDOW w AS (PARTITION BY place_id ORDER BY occurred_on)
    ), bounded AS (
        -- A state is as sure as the surest claim that gave it since it began: a later, less sure report of the
        -- same holder (say, the end of a dispute) does not make it less certain.
        SELECT *, last_value(next_on) OVER (
                      PARTITION BY place_id, period_no ORDER BY occurred_on
                      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS period_end,
                  max(sure) OVER (PARTITION BY place_id, state_no ORDER BY occurred_on) AS state_sure
        FROM numbered
    )
    -- A period takes its state and its beginning event from its first day; NULL end = still in force. (Columns
    -- stored as varchar are cast: RETURN QUERY takes only the declared types.)
    SELECT DISTINCT ON (place_id, period_no)
           place_id, actor_id, status::text, party_ids, daterange(occurred_on, period_end, '[)'), id,
           CASE state_sure WHEN 3 THEN 'confirmed' WHEN 2 THEN 'reported' ELSE 'claimed' END,
           cardinality(rivals) > 0, rivals
    FROM bounded
    ORDER BY place_id, period_no, occurred_on;
END
$$;
