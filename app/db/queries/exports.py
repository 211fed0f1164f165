"""Exports: the flat rows behind an answer, selected once per format and read through a server-side cursor.

Each exported table is an OGC collection's flat row source (app/db/queries/ogc.py: one column per property,
`id`, `geom`) narrowed by the same filters the JSON answer takes, so `/v1/control?f=csv` and
`/ogc/collections/places/items?f=csv` read the very rows the GeoJSON is built from. Every format selects from
that one relation: GeoJSON features built by PostgreSQL (NDJSON, GeoJSON Text Sequences), the columns with WKT
(CSV), or with WKB (what GDAL writes FlatGeobuf and GeoPackage from).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import TextClause

from app.db.queries.as_of import ALL_PLACES, PLACES_IN_BBOX, at_moment
from app.db.queries.control import period_at
from app.db.queries.filters import IN_BBOX, OF_KINDS, AreaFilter, ChangesFilter, ControlFilter
from app.db.queries.ogc import COLLECTIONS, SLUGS_OF_ACTORS, Collection, feature_json


@dataclass(frozen=True)
class Rows:
    """The rows of `collection` an export holds: its source as `alias`, filtered by `where` (SQL over the
    source's columns, bound parameters only), as the record stood at `as_of` when given."""

    collection: Collection
    where: str = "true"
    params: dict[str, Any] = field(default_factory=dict)
    alias: str = "m"
    as_of: datetime | None = None
    as_of_places: str = ALL_PLACES

    @property
    def name(self) -> str:
        return self.collection.id.replace("-", "_")

    @property
    def columns(self) -> list[str]:
        return ["id", *self.collection.properties]

    def statement(self, select: str, *, order: bool = True) -> TextClause:
        """`select` over the matched rows (as `m`), in fid order."""
        source = self.collection
        matched = f"""matched AS (SELECT {self.alias}.* FROM ({source.source}) AS {self.alias}
                                  WHERE {self.where})"""
        sql = f"""WITH {", ".join((*source.ctes, matched))}
                  SELECT {select} FROM matched AS m {"ORDER BY m.id" if order else ""}"""
        return at_moment(sql, self.as_of, self.as_of_places)


def _columns(rows: Rows) -> str:
    return ", ".join(f"m.{name}" for name in rows.columns)


def features(rows: Rows) -> TextClause:
    """One GeoJSON Feature per row, as text (flat properties: what NDJSON and GeoJSON Text Sequences carry)."""
    return rows.statement(f"{feature_json(rows.collection)}::text AS feature")


def table_with_wkt(rows: Rows) -> TextClause:
    """The columns, then lon/lat for points, then the geometry as WKT (longitude first, EPSG:4326)."""
    point = "ST_X(m.geom) AS lon, ST_Y(m.geom) AS lat, " if rows.collection.geometry == "Point" else ""
    return rows.statement(f"{_columns(rows)}, {point}ST_AsText(m.geom) AS wkt")


def table_with_wkb(rows: Rows) -> TextClause:
    """The columns, then the geometry as WKB (what GDAL's writers take)."""
    return rows.statement(f"{_columns(rows)}, ST_AsBinary(m.geom) AS wkb")


# --- The /v1 answers as export tables -------------------------------------------------------------------------


def control_rows(where: ControlFilter) -> Rows:
    """The control map's places (the `places` collection on `at`), filtered as /v1/control filters them."""
    clauses = []
    params: dict[str, Any] = {"at": where.at}
    if where.bbox:
        clauses.append(IN_BBOX)
        params |= where.bbox.params()
    if where.kinds is not None:
        clauses.append(OF_KINDS)
        params["kinds"] = list(where.kinds)
    if where.actor is not None:
        clauses.append("p.controller_slug = :actor")
        params["actor"] = where.actor
    if where.coalition is not None:
        clauses.append(":coalition = ANY(string_to_array(p.coalitions, ','))")
        params["coalition"] = where.coalition
    if where.as_of is not None:
        params["as_of"] = where.as_of
    return Rows(
        COLLECTIONS["places"],
        " AND ".join(clauses) or "true",
        params,
        alias="p",
        as_of=where.as_of,
        as_of_places=PLACES_IN_BBOX if where.bbox else ALL_PLACES,
    )


def territory_rows(where: AreaFilter) -> Rows:
    """The territories in force on `at` (whole, neither clipped nor simplified: an export is for analysis)."""
    clauses = ["m.valid @> CAST(:at AS date)"]
    params: dict[str, Any] = {"at": where.at}
    if where.bbox:
        clauses.append("m.geom && ST_MakeEnvelope(:west, :south, :east, :north, 4326)")
        params |= where.bbox.params()
    if where.actor is not None:
        clauses.append("m.actor_slug = :actor")
        params["actor"] = where.actor
    if where.coalition is not None:
        clauses.append(
            """m.actor_slug IN (SELECT x.slug FROM coalition_membership AS cm
                                JOIN coalition AS c ON c.id = cm.coalition_id JOIN actor AS x ON x.id = cm.actor_id
                                WHERE c.slug = :coalition AND cm.valid @> CAST(:at AS date))"""
        )
        params["coalition"] = where.coalition
    if where.as_of is not None:
        params["as_of"] = where.as_of
    return Rows(COLLECTIONS["territories"], " AND ".join(clauses), params, as_of=where.as_of)


def event_rows(*, place_id: int | None, actor: str | None, start: Any = None, end: Any = None) -> Rows:
    """Recorded (not retracted) events: of a place, naming an actor as holder, loser or party, in a date span."""
    clauses = []
    params: dict[str, Any] = {}
    if place_id is not None:
        clauses.append("m.place_id = :place_id")
        params["place_id"] = place_id
    if actor is not None:
        clauses.append(
            "(:actor IN (m.actor_slug, m.losing_actor_slug) OR :actor = ANY(string_to_array(m.parties, ',')))"
        )
        params["actor"] = actor
    if start is not None:
        clauses.append("m.occurred_on >= CAST(:from AS date)")
        params["from"] = start
    if end is not None:
        clauses.append("m.occurred_on <= CAST(:to AS date)")
        params["to"] = end
    return Rows(COLLECTIONS["events"], " AND ".join(clauses) or "true", params)


# What changed at a place between :from and :to, flat: the state before and after, the events in between.
CHANGES = Collection(
    "changes",
    f"""
    SELECT p.id, p.geom, p.slug, p.name, p.kind,
           coalesce(b.status, 'unknown') AS status_before, ab.slug AS controller_before,
           {SLUGS_OF_ACTORS.format(ids="b.party_ids")} AS parties_before, CASE WHEN b.control_event_id IS NOT NULL THEN lower(b.valid) END AS since_before,
           coalesce(t.status, 'unknown') AS status_after, aa.slug AS controller_after,
           {SLUGS_OF_ACTORS.format(ids="t.party_ids")} AS parties_after, CASE WHEN t.control_event_id IS NOT NULL THEN lower(t.valid) END AS since_after,
           (SELECT string_agg(e.id::text, ',' ORDER BY e.occurred_on, e.seq, e.id) FROM control_event AS e
            WHERE e.place_id = p.id AND e.occurred_on > CAST(:from AS date)
              AND e.occurred_on <= CAST(:to AS date)) AS event_ids,
           b.actor_id AS actor_before_id, t.actor_id AS actor_after_id, b.party_ids AS parties_before_ids,
           t.party_ids AS parties_after_ids, b.status AS period_status_before, t.status AS period_status_after
    FROM place AS p
    {period_at("b", ":from")}
    {period_at("t", ":to")}
    LEFT JOIN actor AS ab ON ab.id = b.actor_id
    LEFT JOIN actor AS aa ON aa.id = t.actor_id
    """,
    {
        "slug": "string",
        "name": "string",
        "kind": "string",
        "status_before": "string",
        "controller_before": "string",
        "parties_before": "string",
        "since_before": "date",
        "status_after": "string",
        "controller_after": "string",
        "parties_after": "string",
        "since_after": "date",
        "event_ids": "string",
    },
    "state",
    "Point",
)


def change_rows(where: ChangesFilter) -> Rows:
    """The places /v1/changes lists: holder, status or parties differ between the two dates."""
    clauses = [
        "(m.actor_before_id, m.period_status_before, m.parties_before_ids) IS DISTINCT FROM "
        "(m.actor_after_id, m.period_status_after, m.parties_after_ids)"
    ]
    params: dict[str, Any] = {"from": where.start, "to": where.end}
    if where.bbox:
        clauses.append("m.geom && ST_MakeEnvelope(:west, :south, :east, :north, 4326)")
        params |= where.bbox.params()
    if where.actor is not None:
        clauses.append(
            "(SELECT id FROM actor WHERE slug = :actor) IN (m.actor_before_id, m.actor_after_id) "
            "OR (SELECT id FROM actor WHERE slug = :actor) = ANY(m.parties_before_ids || m.parties_after_ids)"
        )
        params["actor"] = where.actor
    if where.as_of is not None:
        params["as_of"] = where.as_of
    return Rows(
        CHANGES,
        " AND ".join(f"({clause})" for clause in clauses),
        params,
        as_of=where.as_of,
        as_of_places=PLACES_IN_BBOX if where.bbox else ALL_PLACES,
    )


def dataset_rows(at: Any, include: Sequence[str]) -> list[Rows]:
    """The dataset of a date: every place's state on it, and the events up to it and territories in force on
    it when asked."""
    tables = [control_rows(ControlFilter(at=at))]
    if "events" in include:
        tables.append(event_rows(place_id=None, actor=None, end=at))
    if "territories" in include:
        tables.append(territory_rows(AreaFilter(at=at)))
    return tables
