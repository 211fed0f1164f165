"""Territories (areas an actor held) and front lines over time: GeoJSON bodies built by PostgreSQL, the gains and
losses of an actor between two dates, and what ingestion writes.

Geometry is EPSG:4326; areas and lengths are geodesic (`::geography`). Validity is a half-open daterange, so
`valid @> :at` is "in force on that day", probed by the GiST index over (geom, valid).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries.as_of import at_moment
from app.db.queries.control import COALITIONS_ON_DATE_CTE, FEATURE_COLLECTION, holder_filters
from app.db.queries.filters import AreaFilter, BBox
from app.db.queries.references import filter_kinds, refuse_unmatched, resolve, resolving_filters

# Simplified copies kept by the database (migration 0003): the tolerance, in degrees, each was made with.
SIMPLIFIED_COPIES = (("geom_z6", 0.02), ("geom_z8", 0.005))
# One pixel of a 256-px tile at zoom z, in degrees of longitude: a simplification finer than that is invisible.
PIXEL_DEGREES_Z0 = 360 / 256


def tolerance_for_zoom(zoom: int) -> float:
    return PIXEL_DEGREES_Z0 / float(2**zoom)


def geometry_for_tolerance(tolerance: float | None, alias: str = "t") -> str:
    """The lightest stored copy at least as detailed as `tolerance`, simplified further only when it gains."""
    if not tolerance:
        return f"{alias}.geom"
    for column, made_with in SIMPLIFIED_COPIES:
        if tolerance >= made_with:
            if tolerance > made_with * 1.5:
                return f"ST_SimplifyPreserveTopology({alias}.{column}, :tolerance)"
            return f"{alias}.{column}"
    return f"ST_SimplifyPreserveTopology({alias}.geom, :tolerance)"


BBOX = "ST_MakeEnvelope(:west, :south, :east, :north, 4326)"

SOURCE_JSON = """(SELECT json_build_object('slug', s.slug, 'title', s.title, 'publisher', s.publisher, 'url', s.url,
                                       'published_on', s.published_on)
                  FROM source AS s WHERE s.id = {alias}.source_id)"""

ACTOR_JSON = "json_build_object('slug', {a}.slug, 'name', {a}.name, 'color', {a}.color)"


async def territories_json(conn: AsyncConnection, where: AreaFilter) -> bytes:
    """Territories in force on a date as a GeoJSON FeatureCollection, built by PostgreSQL."""
    sql = territories_sql(
        bbox=where.bbox is not None,
        actor=where.actor is not None,
        coalition=where.coalition is not None,
        tolerance=where.tolerance,
    )
    params: dict[str, object] = {
        "at": where.at,
        "actor": where.actor,
        "coalition": where.coalition,
        "tolerance": where.tolerance,
        "as_of": where.as_of,
    }
    if where.bbox:
        params |= where.bbox.params()
    row = (await conn.execute(at_moment(sql, where.as_of), params)).one()
    await refuse_unmatched(
        conn, row, {"actor": ("actor", where.actor), "coalition": ("coalition", where.coalition)}
    )
    body: str = row.body
    return body.encode()


def territories_sql(*, bbox: bool, actor: bool, coalition: bool, tolerance: float | None) -> str:
    """Territories in force on :at as a GeoJSON FeatureCollection; clipped to the bbox, simplified when asked."""
    geometry = geometry_for_tolerance(tolerance)
    filters = ["t.valid @> CAST(:at AS date)"]
    if bbox:
        filters.append(f"t.geom && {BBOX}")
        geometry = f"ST_Multi(ST_ClipByBox2D({geometry}, {BBOX}))"
    filters += holder_filters(actor=actor, coalition=coalition, holder="t.actor_id")
    return resolving_filters(
        f"""
        WITH {COALITIONS_ON_DATE_CTE}
        {FEATURE_COLLECTION}
        FROM (
            SELECT t.id, json_build_object(
                'type', 'Feature',
                'id', t.id,
                'geometry', ST_AsGeoJSON(g.geom, 5)::json,
                'properties', json_build_object(
                    'id', t.id, 'external_id', t.external_id,
                    'actor', {ACTOR_JSON.format(a="a")},
                    'color', a.color,
                    'coalitions', coalesce(ac.coalitions, '[]'::json),
                    'valid_from', lower(t.valid), 'valid_to', upper(t.valid),
                    'source', {SOURCE_JSON.format(alias="t")},
                    'approximate', t.approximate, 'notes', t.notes,
                    'area_km2', round(t.area_km2::numeric, 1))) AS feature
            FROM territory AS t
            JOIN actor AS a ON a.id = t.actor_id
            LEFT JOIN actor_coalitions AS ac ON ac.actor_id = t.actor_id
            CROSS JOIN LATERAL (SELECT {geometry} AS geom) AS g
            WHERE {" AND ".join(filters)} AND NOT ST_IsEmpty(g.geom)
        ) AS features
    """,
        filter_kinds(actor=actor, coalition=coalition),
    )


# What an actor held on :from and on :to (the union of its territories in force), and the differences both ways.
TERRITORY_DIFF = text(f"""
    WITH held AS (
        SELECT coalesce((SELECT ST_Union(t.geom) FROM territory AS t
                         WHERE t.actor_id = :actor_id AND t.valid @> CAST(:from AS date)),
                        ST_SetSRID('MULTIPOLYGON EMPTY'::geometry, 4326)) AS before,
               coalesce((SELECT ST_Union(t.geom) FROM territory AS t
                         WHERE t.actor_id = :actor_id AND t.valid @> CAST(:to AS date)),
                        ST_SetSRID('MULTIPOLYGON EMPTY'::geometry, 4326)) AS after
    ), changes AS (
        SELECT 'gained' AS change, ST_CollectionExtract(ST_Difference(after, before), 3) AS geom FROM held
        UNION ALL
        SELECT 'lost', ST_CollectionExtract(ST_Difference(before, after), 3) FROM held
    ), measured AS (
        SELECT change, geom, coalesce(ST_Area(geom::geography) / 1e6, 0) AS km2 FROM changes
    )
    SELECT json_build_object(
        'type', 'FeatureCollection',
        'actor', (SELECT {ACTOR_JSON.format(a="a")} FROM actor AS a WHERE a.id = :actor_id),
        'from', CAST(:from AS date), 'to', CAST(:to AS date),
        'totals', json_build_object(
            'held_before_km2', (SELECT round((ST_Area(before::geography) / 1e6)::numeric, 1) FROM held),
            'held_after_km2', (SELECT round((ST_Area(after::geography) / 1e6)::numeric, 1) FROM held),
            'gained_km2', (SELECT round(km2::numeric, 1) FROM measured WHERE change = 'gained'),
            'lost_km2', (SELECT round(km2::numeric, 1) FROM measured WHERE change = 'lost'),
            'net_km2', (SELECT round(sum(CASE change WHEN 'gained' THEN km2 ELSE -km2 END)::numeric, 1)
                        FROM measured)),
        'features', coalesce((SELECT json_agg(json_build_object(
                'type', 'Feature',
                'geometry', ST_AsGeoJSON(geom, 5)::json,
                'properties', json_build_object('change', change, 'area_km2', round(km2::numeric, 1)))
                ORDER BY change)
            FROM measured WHERE NOT ST_IsEmpty(geom)), '[]'::json))::text
""")


async def territory_diff_json(conn: AsyncConnection, *, actor: str, start: date, end: date) -> bytes:
    """What `actor` gained and lost between two dates, as GeoJSON with areas and totals; 404 with suggestions
    for an actor reference that names none. (Resolved first: the diff is geometry work, not a round trip.)"""
    actor_id = (await resolve(conn, "actor", actor, field="actor", location="query"))["id"]
    body: str = await conn.scalar(TERRITORY_DIFF, {"actor_id": actor_id, "from": start, "to": end})
    return body.encode()


async def frontlines_json(
    conn: AsyncConnection, *, at: date, bbox: BBox | None, as_of: datetime | None = None
) -> bytes:
    """Front lines in force on `at` as a GeoJSON FeatureCollection, clipped to `bbox` when given (as the
    record stood at `as_of` when given)."""
    params: dict[str, object] = {"at": at, "as_of": as_of}
    if bbox:
        params |= bbox.params()
    body: str = await conn.scalar(at_moment(frontlines_sql(bbox=bbox is not None), as_of), params)
    return body.encode()


def frontlines_sql(*, bbox: bool) -> str:
    """Front lines in force on :at as a GeoJSON FeatureCollection with both sides; clipped to the bbox."""
    geometry = "f.geom"
    filters = ["f.valid @> CAST(:at AS date)"]
    if bbox:
        filters.append(f"f.geom && {BBOX}")
        geometry = f"ST_Multi(ST_CollectionExtract(ST_Intersection(f.geom, {BBOX}), 2))"
    return f"""
        {FEATURE_COLLECTION}
        FROM (
            SELECT f.id, json_build_object(
                'type', 'Feature',
                'id', f.id,
                'geometry', ST_AsGeoJSON(g.geom, 5)::json,
                'properties', json_build_object(
                    'id', f.id, 'external_id', f.external_id,
                    'side_a', {ACTOR_JSON.format(a="sa")},
                    'side_b', {ACTOR_JSON.format(a="sb")},
                    'valid_from', lower(f.valid), 'valid_to', upper(f.valid),
                    'source', {SOURCE_JSON.format(alias="f")},
                    'approximate', f.approximate, 'notes', f.notes,
                    'length_km', round((ST_Length(f.geom::geography) / 1000)::numeric, 1))) AS feature
            FROM front_line AS f
            JOIN actor AS sa ON sa.id = f.side_a_actor_id
            JOIN actor AS sb ON sb.id = f.side_b_actor_id
            CROSS JOIN LATERAL (SELECT {geometry} AS geom) AS g
            WHERE {" AND ".join(filters)} AND NOT ST_IsEmpty(g.geom)
        ) AS features
    """


# --- Ingestion ------------------------------------------------------------------------------------------------

# Every feature's geometry through territory_prepare_geometry (migration 0003): the EWKB to store, or why not.
PREPARE_GEOMETRIES = text("""
    SELECT x.n, p.problem, ST_AsEWKB(p.geom) AS ewkb
    FROM unnest(CAST(:geojson AS text[]), CAST(:srid AS integer[])) WITH ORDINALITY AS x(geojson, srid, n)
    CROSS JOIN LATERAL territory_prepare_geometry(x.geojson, x.srid, :dimension, :repair) AS p
    ORDER BY x.n
""")

# Rows already stored under the given external ids, and whether each equals what is sent now (geometry included:
# `=` on geometry compares coordinates exactly).
TERRITORY_ROWS = """
    unnest(CAST(:external_id AS text[]), CAST(:actor_id AS integer[]), CAST(:valid_from AS date[]),
           CAST(:valid_to AS date[]), CAST(:source_id AS integer[]), CAST(:approximate AS boolean[]),
           CAST(:notes AS text[]), CAST(:ewkb AS bytea[]))
    AS x(external_id, actor_id, valid_from, valid_to, source_id, approximate, notes, ewkb)
"""
TERRITORY_EXISTING = text(f"""
    SELECT x.external_id, t.id,
           (t.actor_id, t.valid, t.source_id, t.approximate, t.notes, t.geom)
           IS NOT DISTINCT FROM (x.actor_id, daterange(x.valid_from, x.valid_to, '[)'), x.source_id,
                                 x.approximate, x.notes, ST_GeomFromEWKB(x.ewkb)) AS same
    FROM {TERRITORY_ROWS}
    JOIN territory AS t ON t.external_id = x.external_id
""")
TERRITORY_INSERT = text(f"""
    INSERT INTO territory (external_id, actor_id, geom, valid, source_id, approximate, notes)
    SELECT x.external_id, x.actor_id, ST_GeomFromEWKB(x.ewkb), daterange(x.valid_from, x.valid_to, '[)'),
           x.source_id, x.approximate, x.notes
    FROM {TERRITORY_ROWS}
    RETURNING external_id, id
""")
TERRITORY_UPDATE = text(f"""
    UPDATE territory AS t
    SET actor_id = x.actor_id, geom = ST_GeomFromEWKB(x.ewkb), valid = daterange(x.valid_from, x.valid_to, '[)'),
        source_id = x.source_id, approximate = x.approximate, notes = x.notes, recorded_at = now()
    FROM {TERRITORY_ROWS}
    WHERE t.external_id = x.external_id
    RETURNING t.external_id, t.id
""")

FRONT_LINE_ROWS = """
    unnest(CAST(:external_id AS text[]), CAST(:side_a AS integer[]), CAST(:side_b AS integer[]),
           CAST(:valid_from AS date[]), CAST(:valid_to AS date[]), CAST(:source_id AS integer[]),
           CAST(:approximate AS boolean[]), CAST(:notes AS text[]), CAST(:ewkb AS bytea[]))
    AS x(external_id, side_a, side_b, valid_from, valid_to, source_id, approximate, notes, ewkb)
"""
FRONT_LINE_EXISTING = text(f"""
    SELECT x.external_id, f.id,
           (f.side_a_actor_id, f.side_b_actor_id, f.valid, f.source_id, f.approximate, f.notes, f.geom)
           IS NOT DISTINCT FROM (x.side_a, x.side_b, daterange(x.valid_from, x.valid_to, '[)'), x.source_id,
                                 x.approximate, x.notes, ST_GeomFromEWKB(x.ewkb)) AS same
    FROM {FRONT_LINE_ROWS}
    JOIN front_line AS f ON f.external_id = x.external_id
""")
FRONT_LINE_INSERT = text(f"""
    INSERT INTO front_line (external_id, side_a_actor_id, side_b_actor_id, geom, valid, source_id, approximate,
                            notes)
    SELECT x.external_id, x.side_a, x.side_b, ST_GeomFromEWKB(x.ewkb), daterange(x.valid_from, x.valid_to, '[)'),
           x.source_id, x.approximate, x.notes
    FROM {FRONT_LINE_ROWS}
    RETURNING external_id, id
""")
FRONT_LINE_UPDATE = text(f"""
    UPDATE front_line AS f
    SET side_a_actor_id = x.side_a, side_b_actor_id = x.side_b, geom = ST_GeomFromEWKB(x.ewkb),
        valid = daterange(x.valid_from, x.valid_to, '[)'), source_id = x.source_id, approximate = x.approximate,
        notes = x.notes, recorded_at = now()
    FROM {FRONT_LINE_ROWS}
    WHERE f.external_id = x.external_id
    RETURNING f.external_id, f.id
""")

# Stored territories of another actor, on overlapping dates, whose interiors overlap the given ones ('2********':
# the interiors share an area; touching along a border is not an overlap). With the overlap's area, bounds and
# shape, so the client can see what it disputes.
TERRITORY_OVERLAPS = text("""
    SELECT n.id, json_agg(json_build_object(
               'territory', json_build_object('id', t.id, 'external_id', t.external_id,
                                              'actor', json_build_object('slug', a.slug, 'name', a.name),
                                              'valid_from', lower(t.valid), 'valid_to', upper(t.valid)),
               'dates', json_build_object('from', lower(n.valid * t.valid), 'to', upper(n.valid * t.valid)),
               'area_km2', round((ST_Area(o.geom::geography) / 1e6)::numeric, 3),
               'bbox', json_build_array(round(ST_XMin(o.geom)::numeric, 5), round(ST_YMin(o.geom)::numeric, 5),
                                        round(ST_XMax(o.geom)::numeric, 5), round(ST_YMax(o.geom)::numeric, 5)),
               'geometry', ST_AsGeoJSON(o.geom, 5)::json) ORDER BY t.id)::text AS overlaps
    FROM territory AS n
    JOIN territory AS t ON t.id <> n.id AND t.actor_id <> n.actor_id AND t.valid && n.valid AND t.geom && n.geom
    JOIN actor AS a ON a.id = t.actor_id
    CROSS JOIN LATERAL (SELECT ST_CollectionExtract(ST_Intersection(t.geom, n.geom), 3) AS geom) AS o
    WHERE n.id = ANY(CAST(:ids AS integer[])) AND ST_Relate(t.geom, n.geom, '2********')
    GROUP BY n.id
""")
