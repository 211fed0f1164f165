-- derive_control_periods and recompute_control_periods as the first 20261125_0002_ingestion.py installed them
-- (commit 586eb78), before they were rewritten in place under the same revision: what a database made then
-- still holds at 0004. The upgrade test installs them over a database at 0004 to stand for such a database.
CREATE OR REPLACE FUNCTION derive_control_periods(as_of timestamptz, place_ids integer[])
RETURNS TABLE (place_id integer, actor_id integer, status text, party_ids integer[], valid daterange,
               control_event_id integer)
LANGUAGE sql STABLE AS $$
    WITH events AS (
        SELECT e.id, e.place_id, e.actor_id, e.status, e.occurred_on, e.seq, e.party_ids
        FROM control_event AS e
        WHERE as_of IS NULL AND e.retracted_at IS NULL
          AND (place_ids IS NULL OR e.place_id = ANY(place_ids))
        UNION ALL
        SELECT v.control_event_id, v.place_id, v.actor_id, v.status, v.occurred_on, v.seq, v.party_ids
        FROM control_event_version AS v
        WHERE as_of IS NOT NULL AND v.recorded @> as_of AND v.change <> 'retracted'
          AND (place_ids IS NULL OR v.place_id = ANY(place_ids))
    ), ordered AS (
        SELECT e.id, e.place_id, e.actor_id, e.status, e.occurred_on,
               ARRAY(SELECT DISTINCT p FROM unnest(e.party_ids) AS p ORDER BY p) AS party_ids,
               lead(e.occurred_on) OVER w AS next_on,
               row_number() OVER w AS position
        FROM events AS e
        WINDOW w AS (PARTITION BY e.place_id ORDER BY e.occurred_on, e.seq, e.id)
    ), last_of_day AS (
        SELECT * FROM ordered WHERE next_on IS NULL OR next_on > occurred_on
    ), changes AS (
        SELECT *, CASE WHEN lag((actor_id, status, party_ids)) OVER w
                            IS NOT DISTINCT FROM (actor_id, status, party_ids)
                       THEN 0 ELSE 1 END AS starts_period
        FROM last_of_day
        WINDOW w AS (PARTITION BY place_id ORDER BY position)
    ), numbered AS (
        SELECT *, sum(starts_period) OVER (PARTITION BY place_id ORDER BY position) AS period_no
        FROM changes
    ), bounded AS (
        SELECT *, last_value(next_on) OVER (
                      PARTITION BY place_id, period_no ORDER BY position
                      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS period_end
        FROM numbered
    )
    -- A period takes its state and its beginning event from its first event; NULL end = still in force.
    SELECT DISTINCT ON (place_id, period_no)
           place_id, actor_id, status, party_ids, daterange(occurred_on, period_end, '[)'), id
    FROM bounded
    ORDER BY place_id, period_no, position
$$;

CREATE OR REPLACE FUNCTION recompute_control_periods(place_ids integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM place WHERE id = ANY(place_ids) ORDER BY id FOR NO KEY UPDATE;
    DELETE FROM control_period WHERE place_id = ANY(place_ids);
    INSERT INTO control_period (place_id, actor_id, status, party_ids, valid, control_event_id)
    SELECT * FROM derive_control_periods(NULL, place_ids);
END
$$;
