-- Which places a places tile below z8 shows (app/db/queries/tiles.py): one per cell of a 32 x 32 grid over the
-- tile, the most prominent of the cell (place_prominence), as a map thins labels. The cells of zoom z are the
-- web-mercator quadtree's tiles of level z + 5, so each is split in four at the next zoom, and the place shown
-- in a cell is shown in every cell holding it at deeper zooms: a place has the least zoom it shows at,
-- `min_zoom`, and place_zoom keeps those below 8 (from z8 on every place is shown). Nothing here depends on a
-- date: the same places are shown on every date, so a map's points do not jump as its date moves.

-- How places rank for a cell, first first: cities, then towns, then the strongholds and crossings a war turns on,
-- then villages; by population within a kind (a place without one last), then the earliest recorded.
CREATE OR REPLACE FUNCTION place_prominence(kind text, population integer, id integer) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY[CASE kind WHEN 'city' THEN 0 WHEN 'town' THEN 1 WHEN 'village' THEN 3 ELSE 2 END,
                 -coalesce(population, -1), id]::bigint[]
$$;

-- The cell of zoom `zoom` holding a web-mercator point: its column and row in the quadtree level zoom + 5.
CREATE OR REPLACE FUNCTION place_zoom_cell(point_3857 geometry, zoom integer) RETURNS integer[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ARRAY[
        least(greatest(floor((ST_X(point_3857) + 20037508.342789244) * 2 ^ (zoom + 5) / 40075016.685578488), 0),
              2 ^ (zoom + 5) - 1)::integer,
        least(greatest(floor((20037508.342789244 - ST_Y(point_3857)) * 2 ^ (zoom + 5) / 40075016.685578488), 0),
              2 ^ (zoom + 5) - 1)::integer]
$$;

-- Places were added, moved, re-ranked (kind, population) or deleted at `points` (EPSG:4326, old and new positions):
-- the cells holding them are decided again, finest first. The best of a cell at z7 is the best of its places;
-- below, the best of the winners of its four quarters, just decided. A cell's former winner that lost is shown
-- from the next zoom on (it still wins its quarter); the winner is shown from this zoom, or a lower one when it
-- wins there too. Each zoom is one statement over the cells of every point.
CREATE OR REPLACE FUNCTION refresh_place_zooms(points geometry[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    zoom integer;
    touched integer[] := '{}';
BEGIN
    IF cardinality(points) = 0 THEN
        RETURN;
    END IF;
    -- One writer at a time: a cell's winner is read, then written (two writers of one cell would both win it).
    PERFORM pg_advisory_xact_lock('place_zoom'::regclass::oid::bigint);
    FOR zoom IN REVERSE 7..0 LOOP
        WITH cells AS (
            SELECT DISTINCT place_zoom_cell(ST_Transform(pt, 3857), zoom) AS cell FROM unnest(points) AS pt
        ), boxes AS (
            SELECT cell, ST_TileEnvelope(zoom + 5, cell[1], cell[2]) AS box FROM cells
        ), contenders AS (
            SELECT b.cell, p.id, place_prominence(p.kind, p.population, p.id) AS rank, p.geom
            FROM boxes AS b
            JOIN place AS p ON p.geom && ST_Expand(ST_Transform(b.box, 4326), 1e-9)
            WHERE zoom = 7 AND place_zoom_cell(ST_Transform(p.geom, 3857), zoom) = b.cell
            UNION ALL
            SELECT b.cell, p.id, place_prominence(p.kind, p.population, p.id), p.geom
            FROM boxes AS b
            JOIN place_zoom AS z ON z.geom_3857 && ST_Expand(b.box, 0.001)
            JOIN place AS p ON p.id = z.place_id
            WHERE zoom < 7 AND z.min_zoom <= zoom + 1 AND place_zoom_cell(z.geom_3857, zoom) = b.cell
        ), winners AS (
            SELECT DISTINCT ON (cell) cell, id, geom FROM contenders ORDER BY cell, rank
        ), lost AS (
            SELECT z.place_id
            FROM boxes AS b
            JOIN place_zoom AS z ON z.geom_3857 && ST_Expand(b.box, 0.001)
            WHERE place_zoom_cell(z.geom_3857, zoom) = b.cell AND z.min_zoom <= zoom
              AND z.place_id NOT IN (SELECT id FROM winners)
        ), hidden AS (  -- a z7 loser is shown from z8 on, with every place
            DELETE FROM place_zoom WHERE zoom = 7 AND place_id IN (SELECT place_id FROM lost) RETURNING place_id
        ), demoted AS (
            UPDATE place_zoom SET min_zoom = zoom + 1 WHERE zoom < 7 AND place_id IN (SELECT place_id FROM lost)
            RETURNING place_id
        ), shown AS (
            INSERT INTO place_zoom (place_id, min_zoom, geom_3857)
            SELECT w.id, zoom, ST_Transform(w.geom, 3857) FROM winners AS w
            ON CONFLICT (place_id) DO UPDATE SET min_zoom = excluded.min_zoom, geom_3857 = excluded.geom_3857
            RETURNING place_id
        )
        SELECT touched || array_agg(place_id) INTO touched
        FROM (SELECT place_id FROM hidden UNION ALL SELECT place_id FROM demoted UNION ALL SELECT place_id FROM shown)
            AS t;
    END LOOP;
    -- Each state row carries its place's least zoom, for the places tile's partial indexes.
    UPDATE place_state AS s SET min_zoom = z.min_zoom
    FROM (SELECT DISTINCT unnest(touched) AS place_id) AS t LEFT JOIN place_zoom AS z ON z.place_id = t.place_id
    WHERE s.place_id = t.place_id AND s.min_zoom IS DISTINCT FROM z.min_zoom;
END
$$;

-- Once per statement (transition tables): the positions of the places added, deleted, or moved or re-ranked.
CREATE OR REPLACE FUNCTION place_zooms_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM refresh_place_zooms(ARRAY(SELECT geom FROM new_rows));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM refresh_place_zooms(ARRAY(SELECT geom FROM old_rows));
    ELSE
        PERFORM refresh_place_zooms(ARRAY(
            SELECT g
            FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id,
                 LATERAL (VALUES (o.geom), (n.geom)) AS moved(g)
            WHERE (n.geom, n.kind, n.population) IS DISTINCT FROM (o.geom, o.kind, o.population)));
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER place_zooms_insert AFTER INSERT ON place
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION place_zooms_changed();

CREATE OR REPLACE TRIGGER place_zooms_update AFTER UPDATE ON place
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION place_zooms_changed();

CREATE OR REPLACE TRIGGER place_zooms_delete AFTER DELETE ON place
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION place_zooms_changed();
