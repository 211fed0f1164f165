-- Every version of the reference tables (source, actor, coalition, coalition_membership, place, place_name,
-- territory, front_line) in `<table>_version`, the way control_event_version keeps events': each version was
-- the record over `recorded` [from, superseded or deleted), an exclusion constraint keeps one per moment.
-- One function for every table, once per statement (transition tables), whatever wrote the rows (the API,
-- ingestion, the seed, psql). A version table holds its table's columns under the same names (`id` becomes
-- `<table>_id`), so the columns copied are the ones both have, read from the catalogue. tests/db/
-- test_history_tables.py checks that each version table holds every column of its table, so a column added to a
-- table without its version table fails a test instead of going unversioned.
-- An update that changes nothing records nothing; a version opened earlier in the same transaction is replaced
-- (so `recorded` is never empty); a deleted row gets a last version `deleted` (its content as it was), open.
CREATE OR REPLACE FUNCTION record_versions() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    history regclass := format('%I', TG_TABLE_NAME || '_version')::regclass;
    entity text := quote_ident(TG_TABLE_NAME || '_id');
    columns text;
    row_columns text;
    ids integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(id) INTO ids FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(id) INTO ids FROM old_rows;
    ELSE
        SELECT array_agg(n.id) INTO ids FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
        WHERE (n.*) IS DISTINCT FROM (o.*);
    END IF;
    IF ids IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
           string_agg('r.' || quote_ident(a.attname), ', ' ORDER BY a.attnum)
    INTO columns, row_columns
    FROM pg_attribute AS a
    WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> 'id'
      AND EXISTS (SELECT 1 FROM pg_attribute AS h
                  WHERE h.attrelid = history AND h.attname = a.attname AND NOT h.attisdropped);
    EXECUTE format('DELETE FROM %s WHERE %s = ANY($1) AND upper_inf(recorded) AND lower(recorded) = now()',
                   history, entity) USING ids;
    EXECUTE format('UPDATE %s SET recorded = tstzrange(lower(recorded), now()) WHERE %s = ANY($1) AND upper_inf(recorded)',
                   history, entity) USING ids;
    -- A row created and deleted in one transaction leaves nothing behind: it was never the record.
    EXECUTE format(
        'INSERT INTO %1$s (%2$s, version, change, recorded, %3$s)
         SELECT r.id, coalesce(last.version, 0) + 1,
                CASE WHEN $2 = ''DELETE'' THEN ''deleted'' WHEN last.version IS NULL THEN ''created''
                     ELSE ''corrected'' END,
                tstzrange(now(), NULL), %4$s
         FROM %5$s AS r
         LEFT JOIN LATERAL (SELECT max(v.version) AS version FROM %1$s AS v WHERE v.%2$s = r.id) AS last ON true
         WHERE r.id = ANY($1) AND ($2 <> ''DELETE'' OR last.version IS NOT NULL)
         ORDER BY r.id',
        history, entity, columns, row_columns, CASE WHEN TG_OP = 'DELETE' THEN 'old_rows' ELSE 'new_rows' END)
    USING ids, TG_OP;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER source_versions_insert AFTER INSERT ON source
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();
CREATE OR REPLACE TRIGGER source_versions_update AFTER UPDATE ON source
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();
CREATE OR REPLACE TRIGGER source_versions_delete AFTER DELETE ON source
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();

CREATE OR REPLACE TRIGGER actor_versions_insert AFTER INSERT ON actor
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();
CREATE OR REPLACE TRIGGER actor_versions_update AFTER UPDATE ON actor
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();
CREATE OR REPLACE TRIGGER actor_versions_delete AFTER DELETE ON actor
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();

CREATE OR REPLACE TRIGGER coalition_versions_insert AFTER INSERT ON coalition
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();
CREATE OR REPLACE TRIGGER coalition_versions_update AFTER UPDATE ON coalition
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();
CREATE OR REPLACE TRIGGER coalition_versions_delete AFTER DELETE ON coalition
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();

CREATE OR REPLACE TRIGGER coalition_membership_versions_insert AFTER INSERT ON coalition_membership
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();
CREATE OR REPLACE TRIGGER coalition_membership_versions_update AFTER UPDATE ON coalition_membership
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();
CREATE OR REPLACE TRIGGER coalition_membership_versions_delete AFTER DELETE ON coalition_membership
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();

CREATE OR REPLACE TRIGGER place_versions_insert AFTER INSERT ON place
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();
CREATE OR REPLACE TRIGGER place_versions_update AFTER UPDATE ON place
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();
CREATE OR REPLACE TRIGGER place_versions_delete AFTER DELETE ON place
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();

CREATE OR REPLACE TRIGGER place_name_versions_insert AFTER INSERT ON place_name
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();
CREATE OR REPLACE TRIGGER place_name_versions_update AFTER UPDATE ON place_name
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();
CREATE OR REPLACE TRIGGER place_name_versions_delete AFTER DELETE ON place_name
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();

CREATE OR REPLACE TRIGGER territory_versions_insert AFTER INSERT ON territory
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();
CREATE OR REPLACE TRIGGER territory_versions_update AFTER UPDATE ON territory
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();
CREATE OR REPLACE TRIGGER territory_versions_delete AFTER DELETE ON territory
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();

CREATE OR REPLACE TRIGGER front_line_versions_insert AFTER INSERT ON front_line
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();
CREATE OR REPLACE TRIGGER front_line_versions_update AFTER UPDATE ON front_line
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();
CREATE OR REPLACE TRIGGER front_line_versions_delete AFTER DELETE ON front_line
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION record_versions();
