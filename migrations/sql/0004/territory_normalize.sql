-- As a database at revision 0004 holds it (pg_get_functiondef, pg_get_triggerdef), taken when revision
-- 0005_sql_sources introduced snapshots: what its downgrade restores.
CREATE OR REPLACE FUNCTION public.territory_normalize(value text)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE STRICT
AS $function$
    SELECT btrim(regexp_replace(
        regexp_replace(lower(public.unaccent('public.unaccent'::regdictionary, value)),
                       '[''`\u2018\u2019\u02BF\u02BE\u0640\u064B-\u065F]', '', 'g'),
        '[\s\-_.,;:/()"]+', ' ', 'g'))
$function$;
