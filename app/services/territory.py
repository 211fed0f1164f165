"""Ingestion of territories and front lines: validate every feature, then store all of them or none.

Each feature is checked on its own, and every problem of every feature is reported at once (index, field,
reason): its shape (geojson-pydantic), its vertex count, its coordinates, the actors and source it names, and its
geometry as PostGIS sees it (`territory_prepare_geometry`: reprojection, range, `ST_IsValidReason`, repair on
request). Writing is idempotent on `external_id`: the same id with the same content is left alone, the same id
with other content is a conflict (the API) or an update (the seed, whose files are the reference).

Overlapping territories of two different actors on overlapping dates are not refused: fronts are approximate and
areas are disputed. They are stored and reported back as warnings, with the overlap's area and shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries import territory as q
from app.db.queries.references import References
from app.errors import Conflict, Unprocessable
from app.schemas.territories import (
    MAX_VERTICES,
    WGS84,
    Crs,
    FrontLineFeatureIn,
    TerritoryFeatureIn,
    positions,
    vertex_count,
)

Kind = Literal["territory", "front_line"]
Mode = Literal["api", "seed"]
Result = Literal["created", "existing", "updated"]


class InvalidFeatures(Unprocessable):
    title = "Invalid features"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        bad = sorted({e["index"] for e in errors if e.get("index") is not None})
        which = f"feature{'s' if len(bad) != 1 else ''} {', '.join(map(str, bad))}" if bad else "the request"
        super().__init__(f"Nothing was stored: {which} cannot be accepted. See `errors`.", errors=errors)


class ExternalIdConflict(Conflict):
    title = "External id already used"

    def __init__(self, conflicts: list[dict[str, Any]]) -> None:
        ids = ", ".join(c["external_id"] for c in conflicts)
        super().__init__(
            f"Nothing was stored: {ids} already exist{'s' if len(conflicts) == 1 else ''} with other content. "
            "Resend the same content, or use a new external_id.",
            conflicts=conflicts,
        )


@dataclass
class Prepared:
    index: int
    feature: TerritoryFeatureIn | FrontLineFeatureIn
    srid: int
    ewkb: bytes = b""


@dataclass
class Outcome:
    index: int
    external_id: str
    id: int
    result: Result
    overlaps: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "index": self.index,
            "id": self.id,
            "external_id": self.external_id,
            "result": self.result,
        }
        if self.overlaps:
            body["overlaps"] = self.overlaps
        return body


@dataclass
class Report:
    outcomes: list[Outcome]

    def count(self, result: Result) -> int:
        return sum(1 for o in self.outcomes if o.result == result)

    @property
    def changed(self) -> bool:
        return any(o.result != "existing" for o in self.outcomes)


ADAPTERS: dict[Kind, TypeAdapter[Any]] = {
    "territory": TypeAdapter(TerritoryFeatureIn),
    "front_line": TypeAdapter(FrontLineFeatureIn),
}


def _error(index: int | None, field_: str, reason: str) -> dict[str, Any]:
    error: dict[str, Any] = {"location": "body", "field": field_, "reason": reason}
    if index is not None:
        error["index"] = index
    return error


def _parse(
    kind: Kind, raw: Sequence[Any], default_crs: Any, errors: list[dict[str, Any]], batch: bool
) -> list[Prepared]:
    """Validate each feature's shape and coordinates; what passes is returned, what fails goes into `errors`."""
    prepared: list[Prepared] = []
    seen: dict[str, int] = {}
    collection_srid = WGS84
    if default_crs is not None:
        try:
            collection_srid = Crs.model_validate(default_crs).epsg()
        except (ValidationError, ValueError) as exc:
            errors.append(
                _error(None, "crs", str(exc).splitlines()[0] if isinstance(exc, ValueError) else "bad")
            )
            return []
    for index, item in enumerate(raw):
        at = index if batch else None
        try:
            feature = ADAPTERS[kind].validate_python(item)
        except ValidationError as exc:
            for e in exc.errors():
                errors.append(_error(at, ".".join(str(p) for p in e["loc"]) or "feature", e["msg"]))
            continue
        try:
            srid = feature.crs.epsg() if feature.crs else collection_srid
        except ValueError as exc:
            errors.append(_error(at, "crs.properties.name", str(exc)))
            continue
        geometry = feature.geometry
        if (count := vertex_count(geometry)) > MAX_VERTICES:
            errors.append(_error(at, "geometry", f"{count:,} vertices; at most {MAX_VERTICES:,} per feature"))
            continue
        if srid == WGS84:
            bad = next(
                (
                    (path, p)
                    for path, p in positions(geometry)
                    if not (-180 <= p[0] <= 180 and -90 <= p[1] <= 90)
                ),
                None,
            )
            if bad:
                path, position = bad
                errors.append(
                    _error(
                        at,
                        path,
                        f"[{position[0]}, {position[1]}] is outside longitude -180..180, latitude -90..90 "
                        "(GeoJSON is longitude, latitude)",
                    )
                )
                continue
        assert feature.properties is not None
        external_id = feature.properties.external_id
        if external_id in seen:
            errors.append(
                _error(
                    at,
                    "properties.external_id",
                    f"'{external_id}' is also used by feature {seen[external_id]}",
                )
            )
            continue
        seen[external_id] = index
        prepared.append(Prepared(index, feature, srid))
    return prepared


async def ingest(
    conn: AsyncConnection,
    kind: Kind,
    raw: Sequence[Any],
    *,
    crs: Any = None,
    repair: bool = False,
    mode: Mode = "api",
    batch: bool = True,
) -> Report:
    """Store every feature or none (the caller owns the transaction); raise InvalidFeatures or ExternalIdConflict."""
    errors: list[dict[str, Any]] = []
    if batch and not raw:
        raise InvalidFeatures([_error(None, "features", "must hold at least one feature")])
    items = _parse(kind, raw, crs, errors, batch)

    # Actors and the source by any reference (slug, name, alias; slug or URL), one statement per kind; an
    # unknown one is an error with the closest names.
    actor_fields = ["actor"] if kind == "territory" else ["side_a", "side_b"]
    props_of: list[Any] = [item.feature.properties for item in items]
    refs = await References(conn).load(
        {
            "actor": [getattr(props, name) for props in props_of for name in actor_fields],
            "source": [props.source for props in props_of],
        }
    )
    actors: dict[str, int] = {}
    sources: dict[str, int] = {}
    for item, props in zip(items, props_of, strict=True):
        at = item.index if batch else None
        for name in actor_fields:
            ref = getattr(props, name)
            if (actor_id := refs.id("actor", ref, field=f"properties.{name}", index=at)) is not None:
                actors[ref] = actor_id
        if (source_id := refs.id("source", props.source, field="properties.source", index=at)) is not None:
            sources[props.source] = source_id
    errors += refs.problems

    if items:
        rows = await conn.execute(
            q.PREPARE_GEOMETRIES,
            {
                "geojson": [orjson.dumps(i.feature.geometry.model_dump(mode="json")).decode() for i in items],
                "srid": [i.srid for i in items],
                "dimension": 3 if kind == "territory" else 2,
                "repair": repair,
            },
        )
        for item, (_, problem, ewkb) in zip(items, rows.all(), strict=True):
            if problem:
                errors.append(_error(item.index if batch else None, "geometry", problem))
            else:
                item.ewkb = bytes(ewkb)
    if errors:
        errors.sort(key=lambda e: (e.get("index", -1), e["field"]))
        raise InvalidFeatures(errors)
    return await _write(conn, kind, items, actors, sources, mode)


def _columns(
    kind: Kind, items: list[Prepared], actors: dict[str, int], sources: dict[str, int]
) -> dict[str, list[Any]]:
    props: list[Any] = [i.feature.properties for i in items]
    columns: dict[str, list[Any]] = {
        "external_id": [p.external_id for p in props],
        "valid_from": [p.valid_from for p in props],
        "valid_to": [p.valid_to for p in props],
        "source_id": [sources.get(p.source) if p.source else None for p in props],
        "approximate": [p.approximate for p in props],
        "notes": [p.notes for p in props],
        "ewkb": [i.ewkb for i in items],
    }
    if kind == "territory":
        columns["actor_id"] = [actors[p.actor] for p in props]
    else:
        columns["side_a"] = [actors[p.side_a] for p in props]
        columns["side_b"] = [actors[p.side_b] for p in props]
    return columns


def _subset(columns: dict[str, list[Any]], keep: list[int]) -> dict[str, list[Any]]:
    return {name: [values[k] for k in keep] for name, values in columns.items()}


async def _write(
    conn: AsyncConnection,
    kind: Kind,
    items: list[Prepared],
    actors: dict[str, int],
    sources: dict[str, int],
    mode: Mode,
) -> Report:
    existing_sql, insert_sql, update_sql = (
        (q.TERRITORY_EXISTING, q.TERRITORY_INSERT, q.TERRITORY_UPDATE)
        if kind == "territory"
        else (q.FRONT_LINE_EXISTING, q.FRONT_LINE_INSERT, q.FRONT_LINE_UPDATE)
    )
    columns = _columns(kind, items, actors, sources)
    existing = {
        xid: (row_id, same) for xid, row_id, same in (await conn.execute(existing_sql, columns)).all()
    }
    position = {xid: k for k, xid in enumerate(columns["external_id"])}
    changed = [xid for xid, (_, same) in existing.items() if not same]
    if changed and mode == "api":
        raise ExternalIdConflict(
            [
                {"index": items[position[xid]].index, "external_id": xid, "id": existing[xid][0]}
                for xid in sorted(changed, key=position.__getitem__)
            ]
        )
    ids: dict[str, int] = {xid: row_id for xid, (row_id, _) in existing.items()}
    statuses: dict[str, Result] = dict.fromkeys(existing, "existing")
    new = [k for k, xid in enumerate(columns["external_id"]) if xid not in existing]
    if new:
        for xid, row_id in (await conn.execute(insert_sql, _subset(columns, new))).all():
            ids[xid], statuses[xid] = row_id, "created"
    if changed:
        for xid, row_id in (
            await conn.execute(update_sql, _subset(columns, [position[x] for x in changed]))
        ).all():
            ids[xid], statuses[xid] = row_id, "updated"
    outcomes = [
        Outcome(i.index, xid, ids[xid], statuses[xid])
        for i, xid in zip(items, columns["external_id"], strict=True)
    ]
    if kind == "territory":
        # Reported for every feature of the request, so a resend shows the same warnings as the first send.
        if written := [o.id for o in outcomes]:
            rows = await conn.execute(q.TERRITORY_OVERLAPS, {"ids": written})
            overlaps = {row_id: orjson.loads(body) for row_id, body in rows.all()}
            for outcome in outcomes:
                outcome.overlaps = overlaps.get(outcome.id, [])
    return Report(outcomes)
