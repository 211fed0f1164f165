"""Mapbox vector tiles of a date, one layer per request, each built by PostGIS in one statement.

The tile's envelope comes from ST_TileEnvelope (EPSG:3857). Rows are found with the EPSG:4326 box of the tile
(plus the 64-unit buffer ST_AsMVTGeom keeps), so the GiST indexes on the stored geometry apply; places carry their
point in web mercator already (place_state), front lines are reprojected for what is in the tile. Territories come from the web-mercator copy simplified for the zoom (or, above
z9, the full rings clipped in EPSG:4326 first), so a tile never reprojects thousands of vertices it will not draw.
Below z8 the places layer shows one place per cell of a 32 x 32 grid over the tile (THINNED_BELOW, place_zoom).
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Literal, get_args

from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries.as_of import at_moment, live_sql
from app.db.queries.control import (
    BASIS,
    HOLDER_ID,
    STATE_ON_DATE,
    STATE_VALID,
    STATES_AT,
    STATUS,
    TERRITORY_AT,
)

EXTENT, BUFFER = 4096, 64
Layer = Literal["places", "territories", "frontlines"]
LAYERS: tuple[Layer, ...] = get_args(Layer)

TILE_BOUNDS = f"""
    bounds AS (
        SELECT ST_TileEnvelope(:z, :x, :y) AS env,
               ST_TileEnvelope(:z, :x, :y, margin => {BUFFER / EXTENT}) AS buffered,
               ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => {BUFFER / EXTENT}), 4326) AS box
    )
"""

# Below z8 a places tile shows one place per cell of a 32 x 32 grid over it, the most prominent: a z6 tile over the
# data would otherwise hold ~24,000 points at 100,000 places (213 ms to build), far more than it can show apart.
# Each state row carries the least zoom its place shows at (place_zoom, app/db/sql/refresh_place_zooms.sql), and
# each zoom below 8 has a partial index of the rows it shows (migration 0018): its condition, written with the
# zoom as a literal, is what lets the planner take that index.
THINNED_BELOW = 8


def places_in_tile(zoom: int) -> str:
    """The states a places tile reads on :at: one scan of a GiST index over (geom, valid), whose rows carry the
    point in web mercator already; below z8, of the partial index holding the places shown at this zoom."""
    shown = "" if zoom >= THINNED_BELOW else f" AND cp.min_zoom <= {zoom}"
    return f"JOIN {STATES_AT} ON cp.geom && frame.box AND {STATE_ON_DATE}{shown}"


# The places of the tile with their state on :at. A point's tile coordinates are ST_AsMVTGeom's arithmetic done
# here (its affine transform, then rounding half to even, as PostgreSQL's round(float8) does; + 0 makes a -0 a 0):
# the box keeps only points within the buffer, so there is nothing to clip. tests/api/test_tiles.py checks them
# against ST_AsMVTGeom's. `frame` is materialized so that the prepared statement's generic plan (the one a pooled
# connection settles on) computes the envelope once, not for every row: inlined, a dense tile cost ~40% more CPU.
def places_tile(zoom: int) -> str:
    return f"""
    WITH {TILE_BOUNDS}, frame AS MATERIALIZED (
        SELECT bounds.box, ST_XMin(bounds.env) AS x0, ST_YMax(bounds.env) AS y0,
               {EXTENT} / (ST_XMax(bounds.env) - ST_XMin(bounds.env)) AS fx,
               -({EXTENT} / (ST_YMax(bounds.env) - ST_YMin(bounds.env))) AS fy
        FROM bounds
    ), features AS MATERIALIZED (
        SELECT cp.place_id AS id, cp.slug, cp.name, cp.kind,
               {STATUS} AS status, a.slug AS controller, a.color, {BASIS} AS basis,
               CAST(lower({STATE_VALID}) AS text) AS since,
               ST_MakePoint(round(ST_X(cp.geom_3857) * frame.fx + (-frame.x0 * frame.fx)) + 0,
                            round(ST_Y(cp.geom_3857) * frame.fy + (-frame.y0 * frame.fy)) + 0) AS geom
        FROM frame
        {places_in_tile(zoom)}
        {TERRITORY_AT}
        LEFT JOIN actor AS a ON a.id = {HOLDER_ID}
    )
    SELECT ST_AsMVT(features.*, 'places', {EXTENT}, 'geom', 'id') FROM features
"""


def territory_geometry(zoom: int) -> str:
    """The tile's part of each area, in EPSG:3857, from the stored copy simplified by about a pixel of a 256-px
    tile at this zoom (migration 0003), or from the full rings, clipped first, above z9. Measured on 10,000 areas
    of ~2,500 vertices: reading full rings at z8 cost 10x; reprojecting per request, 3x at z6."""
    if zoom <= 6:
        return "ST_ClipByBox2D(t.geom_z6_3857, bounds.buffered)"
    if zoom <= 9:
        return "ST_ClipByBox2D(t.geom_z8_3857, bounds.buffered)"
    return "ST_Transform(ST_ClipByBox2D(t.geom, bounds.box), 3857)"


def territories_tile(zoom: int) -> str:
    return f"""
    WITH {TILE_BOUNDS}, features AS MATERIALIZED (
        SELECT t.id, t.external_id, a.slug AS actor, a.name AS actor_name, a.color,
               CAST(lower(t.valid) AS text) AS valid_from, CAST(upper(t.valid) AS text) AS valid_to,
               t.approximate, round(t.area_km2::numeric, 1)::float8 AS area_km2,
               (SELECT s.slug FROM source AS s WHERE s.id = t.source_id) AS source,
               ST_AsMVTGeom({territory_geometry(zoom)}, bounds.env, {EXTENT}, {BUFFER}, true) AS geom
        FROM bounds
        JOIN territory AS t ON t.geom && bounds.box AND t.valid @> CAST(:at AS date)
        JOIN actor AS a ON a.id = t.actor_id
    )
    SELECT ST_AsMVT(features.*, 'territories', {EXTENT}, 'geom', 'id') FROM features WHERE geom IS NOT NULL
"""


FRONTLINES_TILE = f"""
    WITH {TILE_BOUNDS}, features AS MATERIALIZED (
        SELECT f.id, f.external_id, sa.slug AS side_a, sb.slug AS side_b, sa.color AS side_a_color,
               sb.color AS side_b_color,
               CAST(lower(f.valid) AS text) AS valid_from, CAST(upper(f.valid) AS text) AS valid_to,
               f.approximate, (SELECT s.slug FROM source AS s WHERE s.id = f.source_id) AS source,
               ST_AsMVTGeom(ST_Transform(f.geom, 3857), bounds.env, {EXTENT}, {BUFFER}, true) AS geom
        FROM bounds
        JOIN front_line AS f ON f.geom && bounds.box AND f.valid @> CAST(:at AS date)
        JOIN actor AS sa ON sa.id = f.side_a_actor_id
        JOIN actor AS sb ON sb.id = f.side_b_actor_id
    )
    SELECT ST_AsMVT(features.*, 'frontlines', {EXTENT}, 'geom', 'id') FROM features WHERE geom IS NOT NULL
"""


@cache
def tile_sql(layer: Layer, zoom: int) -> str:
    if layer == "places":
        return places_tile(zoom)
    if layer == "territories":
        return territories_tile(zoom)
    return FRONTLINES_TILE


# As of a moment, the periods are derived for the tile's places only (with its buffer, as a live tile has them),
# found by their points as they stood (`place` is then its versions): below z8, those place_zoom shows at the zoom.
@cache
def places_derived(zoom: int) -> str:
    in_tile = f"p.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => {BUFFER / EXTENT}), 4326)"
    if zoom >= THINNED_BELOW:
        return f"ARRAY(SELECT p.id FROM place AS p WHERE {in_tile})"
    return (
        f"ARRAY(SELECT p.id FROM place AS p JOIN place_zoom AS pz ON pz.place_id = p.id"
        f" WHERE {in_tile} AND pz.min_zoom <= {zoom})"
    )


async def tile_mvt(
    conn: AsyncConnection, layer: Layer, *, z: int, x: int, y: int, at: date, as_of: datetime | None = None
) -> bytes | None:
    """One Mapbox vector tile of `layer` on `at`, built by PostGIS; None when nothing of it is in the tile. As
    the record stood at `as_of` when given."""
    statement = at_moment(tile_sql(layer, z), as_of, places_derived(z))
    body = await conn.scalar(statement, {"z": z, "x": x, "y": y, "at": at, "as_of": as_of})
    return bytes(body) if body else None


async def layer_bounds(conn: AsyncConnection, layer: Layer) -> tuple[float, float, float, float] | None:
    """West, south, east, north of everything in `layer` (EPSG:4326), or None when it is empty."""
    west, south, east, north = (await conn.execute(live_sql(LAYER_EXTENT[layer]))).one()
    return None if west is None else (west, south, east, north)


# Each layer's extent in EPSG:4326, for TileJSON `bounds`.
EXTENT_SQL = {
    "places": "SELECT ST_Extent(geom) FROM place",
    "territories": "SELECT ST_Extent(geom) FROM territory",
    "frontlines": "SELECT ST_Extent(geom) FROM front_line",
}
LAYER_EXTENT = {
    layer: f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ({sql}) AS x(e)"
    for layer, sql in EXTENT_SQL.items()
}

# What each layer's features carry (TileJSON `vector_layers[].fields`).
FIELDS = {
    "places": {
        "slug": "String",
        "name": "String",
        "kind": "String: city, town, village, airbase...",
        "status": "String: controlled, contested, besieged or unknown on the date",
        "controller": "String: slug of the actor holding it",
        "color": "String: the controller's map colour, #rrggbb",
        "basis": "String: event (a control period) or territory (inside an area held that day)",
        "since": "String: YYYY-MM-DD the state began",
    },
    "territories": {
        "external_id": "String",
        "actor": "String: actor slug",
        "actor_name": "String",
        "color": "String: the actor's map colour, #rrggbb",
        "valid_from": "String: YYYY-MM-DD, inclusive",
        "valid_to": "String: YYYY-MM-DD, exclusive; absent when open",
        "approximate": "Boolean",
        "area_km2": "Number: geodesic area of the whole territory",
        "source": "String: source slug",
    },
    "frontlines": {
        "external_id": "String",
        "side_a": "String: actor slug",
        "side_b": "String: actor slug",
        "side_a_color": "String",
        "side_b_color": "String",
        "valid_from": "String: YYYY-MM-DD, inclusive",
        "valid_to": "String: YYYY-MM-DD, exclusive; absent when open",
        "approximate": "Boolean",
        "source": "String: source slug",
    },
}
DESCRIPTIONS = {
    "places": "Every place with its state on the date: status, controller and its colour (below z8, one place "
    "per cell of a 32 x 32 grid over the tile: cities, then towns, other kinds, villages; the most populous first)",
    "territories": "Areas held on the date, by actor (simplified to about a pixel per zoom)",
    "frontlines": "Front lines in force on the date, with both sides",
}
