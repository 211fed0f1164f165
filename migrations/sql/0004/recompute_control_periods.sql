-- As a database at revision 0004 holds it (pg_get_functiondef, pg_get_triggerdef), taken when revision
-- 0005_sql_sources introduced snapshots: what its downgrade restores.
CREATE OR REPLACE FUNCTION public.recompute_control_periods(place_ids integer[])
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM 1 FROM place WHERE id = ANY(place_ids) ORDER BY id FOR NO KEY UPDATE;
    WITH derived AS MATERIALIZED (SELECT * FROM derive_control_periods(NULL, place_ids))
    DELETE FROM control_period AS cp
    WHERE cp.place_id = ANY(place_ids)
      AND (cp.place_id, cp.valid, cp.status, coalesce(cp.actor_id, 0), cp.party_ids, cp.control_event_id) NOT IN (SELECT d.place_id, d.valid, d.status, coalesce(d.actor_id, 0), d.party_ids, d.control_event_id FROM derived AS d);
    WITH derived AS MATERIALIZED (SELECT * FROM derive_control_periods(NULL, place_ids))
    INSERT INTO control_period (place_id, actor_id, status, party_ids, valid, control_event_id)
    SELECT d.* FROM derived AS d
    WHERE (d.place_id, d.valid, d.status, coalesce(d.actor_id, 0), d.party_ids, d.control_event_id) NOT IN (
        SELECT cp.place_id, cp.valid, cp.status, coalesce(cp.actor_id, 0), cp.party_ids, cp.control_event_id FROM control_period AS cp WHERE cp.place_id = ANY(place_ids));
END
$function$;
