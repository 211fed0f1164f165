-- As a database at revision 0004 holds it (pg_get_functiondef, pg_get_triggerdef), taken when revision
-- 0005_sql_sources introduced snapshots: what its downgrade restores.
CREATE OR REPLACE FUNCTION public.control_event_changed()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE
    touched integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        touched := ARRAY(SELECT DISTINCT place_id FROM new_rows);
    ELSIF TG_OP = 'DELETE' THEN
        touched := ARRAY(SELECT DISTINCT place_id FROM old_rows);
    ELSE
        touched := ARRAY(SELECT place_id FROM new_rows UNION SELECT place_id FROM old_rows);
    END IF;
    PERFORM recompute_control_periods(touched);
    RETURN NULL;
END
$function$;

CREATE OR REPLACE TRIGGER control_event_periods_insert AFTER INSERT ON public.control_event REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION control_event_changed();

CREATE OR REPLACE TRIGGER control_event_periods_update AFTER UPDATE ON public.control_event REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION control_event_changed();

CREATE OR REPLACE TRIGGER control_event_periods_delete AFTER DELETE ON public.control_event REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION control_event_changed();
