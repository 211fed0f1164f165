"""Control areas inferred from the places' control on a date, computed by PostGIS in one statement.

Each place with a known state on the date gets its Voronoi cell among those places (the area nearer to it than
to any other), cut to a reach that depends on its kind (a city's hinterland is wider than an airbase's) and to
its country's borders (Natural Earth, passed in as GeoJSON: a border town's area stops at the border), and the
pieces are merged per holder. Contested places form areas of their own, with no holder. The result is a guess
from points, not a sourced outline: every feature says `basis: inferred`.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries.control import HOLDER_ID, PERIOD_AT, STATUS, TERRITORY_AT

# Kilometres a place's control is taken to reach, by kind.
REACH_KM = {
    "city": 30,
    "district": 15,
    "town": 15,
    "airbase": 10,
    "military_base": 8,
    "oilfield": 8,
    "village": 6,
    "border_crossing": 4,
}
DEFAULT_REACH_KM = 6

_REACH = (
    "CASE p.kind "
    + " ".join(f"WHEN '{kind}' THEN {km}" for kind, km in REACH_KM.items())
    + f" ELSE {DEFAULT_REACH_KM} END"
)

INFERRED_AREAS = text(f"""
    WITH borders AS MATERIALIZED (
        SELECT f.value -> 'properties' ->> 'code' AS code,
               ST_SetSRID(ST_GeomFromGeoJSON(f.value ->> 'geometry'), 4326) AS geom
        FROM json_array_elements(CAST(:borders AS json) -> 'features') AS f
    ), held AS MATERIALIZED (
        SELECT p.id, p.slug, p.geom, p.country_code, {HOLDER_ID} AS actor_id, {STATUS} AS status,
               -- geography: the reach is in metres on the ellipsoid, then back to EPSG:4326.
               ST_Buffer(p.geom::geography, 1000 * ({_REACH}))::geometry AS reach
        FROM place AS p
        {PERIOD_AT}
        {TERRITORY_AT}
    ), known AS MATERIALIZED (
        SELECT * FROM held WHERE status <> 'unknown'
    ), cells AS (
        -- One point alone has no Voronoi cell: its reach is its area.
        SELECT (ST_Dump(ST_VoronoiPolygons(ST_Collect(geom), 0.0,
                                           ST_Expand(ST_Envelope(ST_Collect(reach)), 1.0)))).geom AS cell
        FROM known HAVING count(*) > 1
    ), cut AS (
        SELECT k.slug, k.actor_id, k.status = 'contested' AS contested, k.geom AS point, k.country_code,
               coalesce(ST_Intersection(c.cell, k.reach), k.reach) AS geom
        FROM known AS k
        LEFT JOIN cells AS c ON ST_Intersects(c.cell, k.geom)
    ), pieces AS (
        -- Within the place's country; not when the coarse border leaves the place itself outside it.
        SELECT cut.slug, cut.actor_id, cut.contested,
               CASE WHEN b.geom IS NOT NULL AND ST_Covers(b.geom, cut.point)
                    THEN ST_Intersection(cut.geom, b.geom) ELSE cut.geom END AS geom
        FROM cut LEFT JOIN borders AS b ON b.code = cut.country_code
    ), areas AS (
        -- Snapped to the 5 decimals (~1 m) the GeoJSON carries, so the rounded rings are still valid.
        SELECT actor_id, contested, ST_Multi(ST_ReducePrecision(ST_Union(geom), 0.00001)) AS geom,
               array_agg(DISTINCT slug ORDER BY slug) AS places
        FROM pieces GROUP BY actor_id, contested
    )
    SELECT json_build_object(
        'type', 'FeatureCollection',
        'at', CAST(:at AS date),
        'basis', 'inferred',
        'features', coalesce(json_agg(json_build_object(
            'type', 'Feature',
            'geometry', ST_AsGeoJSON(ar.geom, 5)::json,
            'properties', json_build_object(
                'basis', 'inferred',
                'status', CASE WHEN ar.contested THEN 'contested' ELSE 'controlled' END,
                'actor', CASE WHEN a.id IS NOT NULL
                              THEN json_build_object('slug', a.slug, 'name', a.name, 'color', a.color) END,
                'color', coalesce(a.color, '#9e9e9e'),
                'places', ar.places,
                'area_km2', round((ST_Area(ar.geom::geography) / 1e6)::numeric, 1)::float8)
        ) ORDER BY a.slug NULLS LAST), '[]'::json)
    )::text
    FROM areas AS ar LEFT JOIN actor AS a ON a.id = ar.actor_id AND NOT ar.contested
""")

# Places fought over on a date (contested, or besieged), with every party and its colour: what a map needs to
# draw them in two colours.
CONTESTED = text(f"""
    SELECT json_build_object(
        'at', CAST(:at AS date),
        'places', coalesce(json_agg(json_build_object(
            'slug', p.slug, 'name', p.name, 'status', cp.status,
            'controller', (SELECT json_build_object('slug', h.slug, 'name', h.name, 'color', h.color)
                           FROM actor AS h WHERE h.id = cp.actor_id),
            'parties', coalesce((SELECT json_agg(json_build_object('slug', x.slug, 'name', x.name, 'color', x.color)
                                                 ORDER BY x.slug)
                                 FROM actor AS x WHERE x.id = ANY(cp.party_ids)), '[]'::json)
        ) ORDER BY p.id), '[]'::json)
    )::text
    FROM place AS p
    {PERIOD_AT}
    WHERE cp.status IN ('contested', 'besieged')
""")


async def inferred_json(conn: AsyncConnection, *, at: date, borders: str) -> str:
    """The inferred areas of a date as a GeoJSON FeatureCollection (text), built by PostgreSQL; `borders` is a
    FeatureCollection of countries, each with its ISO 3166-1 alpha-2 `code`."""
    return str(await conn.scalar(INFERRED_AREAS, {"at": at, "borders": borders}))


async def contested_json(conn: AsyncConnection, *, at: date) -> str:
    """The places fought over on a date, with their parties, as JSON text."""
    return str(await conn.scalar(CONTESTED, {"at": at}))
