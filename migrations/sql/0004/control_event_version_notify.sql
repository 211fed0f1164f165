-- As a database at revision 0004 holds it (pg_get_functiondef, pg_get_triggerdef), taken when revision
-- 0005_sql_sources introduced snapshots: what its downgrade restores.
CREATE OR REPLACE FUNCTION public.control_event_version_notify()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM pg_notify('control_event_version', NEW.id::text);
    RETURN NULL;
END
$function$;

CREATE OR REPLACE TRIGGER control_event_version_notify AFTER INSERT ON public.control_event_version FOR EACH ROW EXECUTE FUNCTION control_event_version_notify();
