"""The OGC API collections: each a flat row source (one column per queryable, plus `id`, `geom` and its
validity), a GeoJSON page built by PostgreSQL over it, and the extents computed from the data.

Properties are flat scalars a GIS table can hold (coalitions as a comma-separated string, not a list of
objects). `places` is the state of every place on :at from the same joins as `/v1/control` (the period in
force, else the territory covering the place); the other collections carry their own interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries.as_of import live_sql
from app.db.queries.control import (
    BASIS,
    CERTAINTY,
    COALITIONS_ON_DATE_CTE,
    DISPUTED,
    HOLDER_ID,
    PERIOD_AT,
    STATE_VALID,
    STATUS,
    TERRITORY_AT,
)

# The property types a collection exposes (JSON Schema types; `date` is a string of format date).
PropertyType = Literal["string", "integer", "number", "boolean", "date"]
# How `datetime` applies: `state` (one date, the state on it), `range` (a daterange column `valid`),
# `date` (a date column: the day something happened).
Temporal = Literal["state", "range", "date"]

SLUGS_OF_ACTORS = "(SELECT string_agg(x.slug, ',' ORDER BY x.slug) FROM actor AS x WHERE x.id = ANY({ids}))"
SOURCE_SLUG = "(SELECT s.slug FROM source AS s WHERE s.id = {alias}.source_id)"

PLACES = f"""
    SELECT p.id, p.geom, p.slug, p.name, p.kind, p.country_code,
           {STATUS} AS status, a.slug AS controller_slug, a.name AS controller_name,
           (SELECT string_agg(c->>'slug', ',') FROM json_array_elements(ac.coalitions) AS c) AS coalitions,
           {SLUGS_OF_ACTORS.format(ids="cp.party_ids")} AS parties,
           lower({STATE_VALID}) AS since, upper({STATE_VALID}) AS until,
           {BASIS} AS basis, {CERTAINTY} AS certainty, {DISPUTED.format(p="cp")} AS disputed,
           cp.control_event_id AS event_id, tr.id AS territory_id
    FROM place AS p
    {PERIOD_AT}
    {TERRITORY_AT}
    LEFT JOIN actor AS a ON a.id = {HOLDER_ID}
    LEFT JOIN actor_coalitions AS ac ON ac.actor_id = {HOLDER_ID}
"""

CONTROL_PERIODS = f"""
    SELECT cp.id, p.geom, cp.valid, cp.place_id, p.slug AS place_slug, p.name AS place_name, p.kind AS place_kind,
           cp.status, a.slug AS controller_slug, a.name AS controller_name,
           {SLUGS_OF_ACTORS.format(ids="cp.party_ids")} AS parties,
           lower(cp.valid) AS valid_from, upper(cp.valid) AS valid_to, cp.control_event_id AS event_id,
           cp.disputed
    FROM control_period AS cp
    JOIN place AS p ON p.id = cp.place_id
    LEFT JOIN actor AS a ON a.id = cp.actor_id
"""

TERRITORIES = f"""
    SELECT t.id, t.geom, t.valid, t.external_id, a.slug AS actor_slug, a.name AS actor_name, a.color,
           lower(t.valid) AS valid_from, upper(t.valid) AS valid_to, t.approximate,
           round(t.area_km2::numeric, 1)::float8 AS area_km2, {SOURCE_SLUG.format(alias="t")} AS source,
           t.notes
    FROM territory AS t
    JOIN actor AS a ON a.id = t.actor_id
"""

FRONT_LINES = f"""
    SELECT f.id, f.geom, f.valid, f.external_id, sa.slug AS side_a, sb.slug AS side_b,
           lower(f.valid) AS valid_from, upper(f.valid) AS valid_to, f.approximate,
           {SOURCE_SLUG.format(alias="f")} AS source, f.notes
    FROM front_line AS f
    JOIN actor AS sa ON sa.id = f.side_a_actor_id
    JOIN actor AS sb ON sb.id = f.side_b_actor_id
"""

# Retracted events no longer shape any period: they are not part of the record a client reads.
EVENTS = f"""
    SELECT e.id, p.geom, e.occurred_on, e.external_id, e.place_id, p.slug AS place_slug, p.name AS place_name,
           e.precision, e.kind, e.status, a.slug AS actor_slug, l.slug AS losing_actor_slug,
           {SLUGS_OF_ACTORS.format(ids="e.party_ids")} AS parties, e.confidence, e.notes
    FROM control_event AS e
    JOIN place AS p ON p.id = e.place_id
    LEFT JOIN actor AS a ON a.id = e.actor_id
    LEFT JOIN actor AS l ON l.id = e.losing_actor_id
    WHERE e.retracted_at IS NULL
"""


@dataclass(frozen=True)
class Collection:
    id: str
    source: str
    # Every flat property, in the order features carry them; each is a queryable.
    properties: dict[str, PropertyType]
    temporal: Temporal
    geometry: Literal["Point", "MultiPolygon", "MultiLineString"]
    # The properties that bound its interval (inclusive start, exclusive end), or its date.
    interval: tuple[str, ...] = ()
    ctes: tuple[str, ...] = field(default=())


COLLECTIONS: dict[str, Collection] = {
    c.id: c
    for c in (
        Collection(
            "places",
            PLACES,
            {
                "slug": "string",
                "name": "string",
                "kind": "string",
                "country_code": "string",
                "status": "string",
                "controller_slug": "string",
                "controller_name": "string",
                "coalitions": "string",
                "parties": "string",
                "since": "date",
                "until": "date",
                "basis": "string",
                "certainty": "string",
                "disputed": "boolean",
                "event_id": "integer",
                "territory_id": "integer",
            },
            "state",
            "Point",
            ("since", "until"),
            (COALITIONS_ON_DATE_CTE,),
        ),
        Collection(
            "control-periods",
            CONTROL_PERIODS,
            {
                "place_id": "integer",
                "place_slug": "string",
                "place_name": "string",
                "place_kind": "string",
                "status": "string",
                "controller_slug": "string",
                "controller_name": "string",
                "parties": "string",
                "valid_from": "date",
                "valid_to": "date",
                "event_id": "integer",
                "disputed": "boolean",
            },
            "range",
            "Point",
            ("valid_from", "valid_to"),
        ),
        Collection(
            "territories",
            TERRITORIES,
            {
                "external_id": "string",
                "actor_slug": "string",
                "actor_name": "string",
                "color": "string",
                "valid_from": "date",
                "valid_to": "date",
                "approximate": "boolean",
                "area_km2": "number",
                "source": "string",
                "notes": "string",
            },
            "range",
            "MultiPolygon",
            ("valid_from", "valid_to"),
        ),
        Collection(
            "front-lines",
            FRONT_LINES,
            {
                "external_id": "string",
                "side_a": "string",
                "side_b": "string",
                "valid_from": "date",
                "valid_to": "date",
                "approximate": "boolean",
                "source": "string",
                "notes": "string",
            },
            "range",
            "MultiLineString",
            ("valid_from", "valid_to"),
        ),
        Collection(
            "events",
            EVENTS,
            {
                "occurred_on": "date",
                "external_id": "string",
                "place_id": "integer",
                "place_slug": "string",
                "place_name": "string",
                "precision": "string",
                "kind": "string",
                "status": "string",
                "actor_slug": "string",
                "losing_actor_slug": "string",
                "parties": "string",
                "confidence": "string",
                "notes": "string",
            },
            "date",
            "Point",
            ("occurred_on",),
        ),
    )
}


def bbox_sql(collection: Collection) -> str:
    """Features intersecting the bbox (:west, :south, :east, :north). A point does exactly when it is inside
    the box's bounding box, so for points the GiST index answers alone."""
    envelope = "ST_MakeEnvelope(:west, :south, :east, :north, 4326)"
    if collection.geometry == "Point":
        return f"m.geom && {envelope}"
    return f"ST_Intersects(m.geom, {envelope})"


def feature_json(collection: Collection, *, links: bool = False) -> str:
    """One GeoJSON Feature of a row `m` of the collection's source; `id` is the integer fid. Property names
    are the collection's own (a fixed list, never input); with `links`, the feature carries :links."""
    members = ", ".join(f"'{name}', m.{name}" for name in collection.properties)
    return f"""json_build_object('type', 'Feature', 'id', m.id,
                'geometry', ST_AsGeoJSON(m.geom, 5)::json,
                'properties', json_build_object({members}){", 'links', CAST(:links AS json)" if links else ""})"""


def _with(collection: Collection, *more: str) -> str:
    return "WITH " + ", ".join((*collection.ctes, *more))


def items_sql(collection: Collection, where: str, *, count: bool, bounded: bool) -> str:
    """A page of the collection as a GeoJSON FeatureCollection, built by PostgreSQL.

    Keyset paging on the fid (`m.id > :after`, ordered by id): one row more than :limit tells whether a next
    page exists; its link is :next_prefix followed by the last fid of this page. `numberMatched` counts the
    whole match, asked for on a first page only (where clients read it). A `bounded` match (a bbox) is
    evaluated once for the count and the page; an unbounded one is not materialised, so the page stops at
    :limit + 1 rows in id order and only the count visits the rest."""
    materialized = "MATERIALIZED" if bounded and count else "NOT MATERIALIZED"
    matched = f"matched AS {materialized} (SELECT m.* FROM ({collection.source}) AS m WHERE {where})"
    number_matched = "'numberMatched', (SELECT count(*) FROM matched)," if count else ""
    return f"""
        {_with(collection, matched)}
        SELECT json_build_object(
            'type', 'FeatureCollection',
            {number_matched}
            'numberReturned', count(*) FILTER (WHERE n <= :limit),
            'features', coalesce(json_agg(feature ORDER BY id) FILTER (WHERE n <= :limit), '[]'::json),
            'links', CAST(:links AS jsonb) || CASE WHEN count(*) > :limit
                THEN jsonb_build_array(jsonb_build_object(
                    'rel', 'next', 'type', 'application/geo+json', 'title', 'Next page',
                    'href', :next_prefix || max(id) FILTER (WHERE n <= :limit)))
                ELSE '[]'::jsonb END
        )::text
        FROM (SELECT m.id, {feature_json(collection)} AS feature, row_number() OVER (ORDER BY m.id) AS n
              FROM (SELECT * FROM matched AS m WHERE m.id > :after ORDER BY m.id LIMIT :limit + 1) AS m) AS page
    """


async def items_json(
    conn: AsyncConnection,
    collection: Collection,
    where: str,
    params: dict[str, Any],
    *,
    count: bool,
    bounded: bool,
) -> bytes:
    """A page of the collection's features matching `where` (SQL over its row source `m`, with `params`)."""
    body: str = await conn.scalar(
        live_sql(items_sql(collection, where, count=count, bounded=bounded)), params
    )
    return body.encode()


def item_sql(collection: Collection) -> str:
    """One feature by fid, with its links (:links), or NULL when there is none."""
    return f"""
        {_with(collection, f"matched AS (SELECT m.* FROM ({collection.source}) AS m WHERE m.id = :fid)")}
        SELECT (SELECT {feature_json(collection, links=True)} FROM matched AS m)::text
    """


async def item_json(conn: AsyncConnection, collection: Collection, params: dict[str, Any]) -> bytes | None:
    """One feature (params: fid, links, and at for places), or None when the collection has no such fid."""
    body: str | None = await conn.scalar(live_sql(item_sql(collection)), params)
    return body.encode() if body is not None else None


def _extent(table: str, temporal: str) -> str:
    return f"""(SELECT json_build_object(
                    'bbox', CASE WHEN e IS NOT NULL THEN json_build_array(
                        round(ST_XMin(e)::numeric, 5), round(ST_YMin(e)::numeric, 5),
                        round(ST_XMax(e)::numeric, 5), round(ST_YMax(e)::numeric, 5)) END,
                    'interval', (SELECT json_build_array(lo, hi) FROM ({temporal}) AS t))
                FROM (SELECT ST_Extent(geom) AS e FROM {table}) AS x)"""


RANGE_INTERVAL = """SELECT min(lower(valid)) AS lo,
                           CASE WHEN bool_or(upper_inf(valid)) THEN NULL ELSE max(upper(valid)) END AS hi
                    FROM {table}"""

# The extent of each collection, from the data: the bbox of its geometries and the interval its dates cover
# (null at an end left open). `places` starts with the first known state and stays open (its state is known
# up to today).
EXTENTS = f"""
    SELECT json_build_object(
        'places', {_extent("place", "SELECT min(lower(valid)) AS lo, NULL::date AS hi FROM control_period")},
        'control-periods', {_extent("place", RANGE_INTERVAL.format(table="control_period"))},
        'territories', {_extent("territory", RANGE_INTERVAL.format(table="territory"))},
        'front-lines', {_extent("front_line", RANGE_INTERVAL.format(table="front_line"))},
        'events', {_extent("place", "SELECT min(occurred_on) AS lo, max(occurred_on) AS hi FROM control_event WHERE retracted_at IS NULL")}
    )::text
"""


async def extents(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    """Each collection's {bbox, interval}, computed from the data."""
    result: dict[str, dict[str, Any]] = orjson.loads(await conn.scalar(live_sql(EXTENTS)))
    return result
