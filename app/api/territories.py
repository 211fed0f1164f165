"""Territories and front lines: GeoJSON of a date, an actor's gains and losses, and ingestion."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from app.api.auth import IngestKey
from app.api.caching import GEOJSON, JSON, cached
from app.api.deps import ReadConnection
from app.api.exports import export_response, with_slugs
from app.api.filters import AreaQuery, AsOf, FromQuery, HistoryPage, OnDate, ToQuery
from app.api.formats import EXPORT_CONTENT, NOT_ACCEPTABLE, FormatQuery, export_format
from app.api.params import BboxQuery, parse_bbox, parse_date_range
from app.api.responses import PROBLEM, GeoJSONResponse
from app.db.queries.exports import territory_rows
from app.db.queries.history import feature_json, history_json
from app.db.queries.territory import frontlines_json, territories_json, territory_diff_json
from app.db.transaction import in_transaction
from app.errors import InvalidParameter, PayloadTooLarge
from app.schemas.history import ResourceHistory
from app.schemas.territories import (
    MAX_VERTICES,
    FrontLineFeature,
    FrontLineFeatureIn,
    FrontLineMap,
    IngestItem,
    IngestReport,
    TerritoryDiff,
    TerritoryFeature,
    TerritoryFeatureIn,
    TerritoryMap,
)
from app.services.territory import Kind, Report, ingest

router = APIRouter(prefix="/v1", tags=["territories and front lines"])

READ_PROBLEMS: dict[int | str, dict[str, Any]] = {400: {"description": "A parameter is invalid", **PROBLEM}}
WRITE_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one", **PROBLEM},
    403: {"description": "The key lacks the ingest scope", **PROBLEM},
    409: {"description": "An external_id already stored with other content (nothing was stored)", **PROBLEM},
    413: {"description": "The body or the batch is too large", **PROBLEM},
    422: {
        "description": "Invalid features, each listed by index, field and reason (nothing was stored)",
        **PROBLEM,
    },
    429: {"description": "Too many requests for this key; see Retry-After", **PROBLEM},
}

RepairQuery = Annotated[
    bool,
    Query(description="Store invalid geometries repaired by ST_MakeValid instead of refusing them"),
]


def _inline_schema(model: Any) -> dict[str, Any]:
    """The JSON schema of an input model with its $defs inlined (the GeoJSON input types are not recursive)."""
    schema = TypeAdapter(model).json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def _body_schema(feature: Any, *, batch: bool) -> dict[str, Any]:
    schema = _inline_schema(feature)
    if batch:
        schema = {
            "type": "object",
            "required": ["type", "features"],
            "properties": {
                "type": {"const": "FeatureCollection"},
                "crs": _inline_schema(feature)["properties"]["crs"],
                "features": {"type": "array", "items": schema},
            },
        }
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


PALMYRA = [[38.0, 34.45], [38.45, 34.45], [38.45, 34.7], [38.0, 34.7], [38.0, 34.45]]
TERRITORY_EXAMPLE = {
    "type": "Feature",
    "properties": {
        "external_id": "my-palmyra-2016-12-11",
        "actor": "islamic-state",
        "valid_from": "2016-12-11",
        "valid_to": "2017-03-02",
        "source": "wp-palmyra-offensive-2016-12",
        "approximate": True,
        "notes": "Drawn from a news map",
    },
    "geometry": {"type": "Polygon", "coordinates": [PALMYRA]},
}
FRONT_LINE_EXAMPLE = {
    "type": "Feature",
    "properties": {
        "external_id": "my-front-t4-2016-12-11",
        "side_a": "syrian-army",
        "side_b": "islamic-state",
        "valid_from": "2016-12-11",
        "valid_to": "2017-03-02",
        "source": "wp-tiyas-airbase",
    },
    "geometry": {"type": "LineString", "coordinates": [[37.72, 34.42], [37.72, 34.72]]},
}


def _feature_body(example: dict[str, Any]) -> Any:
    return Body(
        description=f"A GeoJSON Feature (longitude, latitude; at most {MAX_VERTICES:,} vertices)",
        openapi_examples={"one": {"value": example}},
    )


def _batch_body(example: dict[str, Any]) -> Any:
    return Body(
        description="A GeoJSON FeatureCollection: every feature is stored, or none",
        openapi_examples={"two": {"value": {"type": "FeatureCollection", "features": [example]}}},
    )


def _answer(report: Report, *, single: bool) -> Response:
    status = 201 if any(o.result == "created" for o in report.outcomes) else 200
    if single:
        item = report.outcomes[0].as_dict()
        item.pop("index")
        item.setdefault("overlaps", [])
        return Response(orjson.dumps(item), status_code=status, media_type=JSON)
    body = {
        "created": report.count("created"),
        "existing": report.count("existing"),
        "items": [{**o.as_dict(), "overlaps": o.overlaps} for o in report.outcomes],
    }
    return Response(orjson.dumps(body), status_code=status, media_type=JSON)


async def _ingest(
    request: Request, kind: Kind, features: list[Any], *, crs: Any, repair: bool, single: bool
) -> Response:
    limit = request.app.state.settings.max_batch
    if len(features) > limit:
        raise PayloadTooLarge(f"{len(features):,} features; at most {limit:,} per batch.", max_batch=limit)

    async def work(conn: AsyncConnection) -> Report:
        return await ingest(conn, kind, features, crs=crs, repair=repair, batch=not single)

    return _answer(await in_transaction(request.app.state.engine, work), single=single)


def _features_of(body: dict[str, Any]) -> list[Any]:
    if body.get("type") != "FeatureCollection":
        raise InvalidParameter("type", "must be 'FeatureCollection'", location="body")
    features = body.get("features")
    if not isinstance(features, list):
        raise InvalidParameter("features", "must be a list of GeoJSON Features", location="body")
    return features


# --- Territories ----------------------------------------------------------------------------------------------


@router.get(
    "/territories",
    response_model=TerritoryMap,
    response_class=GeoJSONResponse,
    responses={**READ_PROBLEMS, **NOT_ACCEPTABLE, 200: {"content": EXPORT_CONTENT}},
)
async def list_territories(
    request: Request, conn: ReadConnection, where: AreaQuery, f: FormatQuery = None
) -> Response:
    """Areas held on a date, as GeoJSON: actor, its coalitions, dates, source, geodesic area; simplified on request.

    An export (`f`) holds the areas whole: neither clipped to the bbox nor simplified."""
    if media_type := export_format(request, f, {"geojson": GEOJSON}, JSON):
        name = f"territories-{where.at}"
        return await export_response(
            request, media_type, [territory_rows(await with_slugs(conn, where))], name, as_of=where.as_of
        )
    body = await territories_json(conn, where)
    return cached(request, body, where.at, media_type=GEOJSON, as_of=where.as_of)


@router.get(
    "/territories/diff",
    response_model=TerritoryDiff,
    response_class=GeoJSONResponse,
    responses={
        **READ_PROBLEMS,
        404: {"description": "Unknown actor", **PROBLEM},
    },
)
async def get_territory_diff(
    request: Request,
    conn: ReadConnection,
    actor: Annotated[
        str,
        Query(
            description="Actor: slug, name or alias (required)",
            openapi_examples={"IS": {"value": "islamic-state"}},
        ),
    ],
    from_: FromQuery,
    to: ToQuery,
) -> Response:
    """What an actor gained and lost between two dates: polygons with `change` gained|lost, areas and totals."""
    start, end = parse_date_range(from_, to)
    body = await territory_diff_json(conn, actor=actor, start=start, end=end)
    return cached(request, body, start, end, media_type=GEOJSON)


@router.post(
    "/territories",
    status_code=201,
    response_model=IngestItem,
    responses={200: {"description": "Already stored with the same content"}, **WRITE_PROBLEMS},
    openapi_extra=_body_schema(TerritoryFeatureIn, batch=False),
)
async def create_territory(
    request: Request,
    key: IngestKey,
    feature: Annotated[dict[str, Any], _feature_body(TERRITORY_EXAMPLE)],
    repair: RepairQuery = False,
) -> Response:
    """Store one territory; overlaps with other actors' areas on overlapping dates come back as warnings."""
    return await _ingest(request, "territory", [feature], crs=None, repair=repair, single=True)


@router.post(
    "/territories/batch",
    status_code=201,
    response_model=IngestReport,
    responses={200: {"description": "Every feature was already stored"}, **WRITE_PROBLEMS},
    openapi_extra=_body_schema(TerritoryFeatureIn, batch=True),
)
async def create_territories(
    request: Request,
    key: IngestKey,
    collection: Annotated[dict[str, Any], _batch_body(TERRITORY_EXAMPLE)],
    repair: RepairQuery = False,
) -> Response:
    """Store a FeatureCollection of territories in one transaction: all of them, or none."""
    features = _features_of(collection)
    return await _ingest(
        request, "territory", features, crs=collection.get("crs"), repair=repair, single=False
    )


# --- Front lines ----------------------------------------------------------------------------------------------


@router.get(
    "/frontlines",
    response_model=FrontLineMap,
    response_class=GeoJSONResponse,
    responses=READ_PROBLEMS,
)
async def list_frontlines(
    request: Request, conn: ReadConnection, at: OnDate, as_of: AsOf, bbox: BboxQuery = None
) -> Response:
    """Front lines in force on a date, as GeoJSON, with both sides, dates, source and geodesic length."""
    body = await frontlines_json(conn, at=at, bbox=parse_bbox(bbox), as_of=as_of)
    return cached(request, body, at, media_type=GEOJSON, as_of=as_of)


@router.post(
    "/frontlines",
    status_code=201,
    response_model=IngestItem,
    responses={200: {"description": "Already stored with the same content"}, **WRITE_PROBLEMS},
    openapi_extra=_body_schema(FrontLineFeatureIn, batch=False),
)
async def create_frontline(
    request: Request,
    key: IngestKey,
    feature: Annotated[dict[str, Any], _feature_body(FRONT_LINE_EXAMPLE)],
    repair: RepairQuery = False,
) -> Response:
    """Store one front line between two sides."""
    return await _ingest(request, "front_line", [feature], crs=None, repair=repair, single=True)


@router.post(
    "/frontlines/batch",
    status_code=201,
    response_model=IngestReport,
    responses={200: {"description": "Every feature was already stored"}, **WRITE_PROBLEMS},
    openapi_extra=_body_schema(FrontLineFeatureIn, batch=True),
)
async def create_frontlines(
    request: Request,
    key: IngestKey,
    collection: Annotated[dict[str, Any], _batch_body(FRONT_LINE_EXAMPLE)],
    repair: RepairQuery = False,
) -> Response:
    """Store a FeatureCollection of front lines in one transaction: all of them, or none."""
    features = _features_of(collection)
    return await _ingest(
        request, "front_line", features, crs=collection.get("crs"), repair=repair, single=False
    )


# --- One territory or front line, and its history ---------------------------------------------------------------
# Declared after /territories/diff, so that path is not read as an id.

FeatureId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The id its map feature carries")]
ONE_PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such id (as of that moment)", **PROBLEM},
    400: {"description": "A parameter is invalid", **PROBLEM},
}


@router.get(
    "/territories/{territory_id}",
    response_model=TerritoryFeature,
    response_class=GeoJSONResponse,
    responses=ONE_PROBLEMS,
)
async def get_territory(
    request: Request, conn: ReadConnection, territory_id: FeatureId, as_of: AsOf
) -> Response:
    """One territory as a GeoJSON Feature, whole; its coalitions are the actor's on its first day."""
    body = await feature_json(conn, "territory", territory_id, as_of=as_of)
    return cached(request, body, media_type=GEOJSON, as_of=as_of)


@router.get(
    "/territories/{territory_id}/history",
    response_model=ResourceHistory,
    responses=ONE_PROBLEMS,
)
async def get_territory_history(
    request: Request, conn: ReadConnection, territory_id: FeatureId, page: HistoryPage
) -> Response:
    """Every version of a territory, oldest first (a deleted one keeps its history)."""
    return cached(request, await history_json(conn, "territory", territory_id, page, head={}))


@router.get(
    "/frontlines/{front_line_id}",
    response_model=FrontLineFeature,
    response_class=GeoJSONResponse,
    responses=ONE_PROBLEMS,
)
async def get_frontline(
    request: Request, conn: ReadConnection, front_line_id: FeatureId, as_of: AsOf
) -> Response:
    """One front line as a GeoJSON Feature, whole."""
    body = await feature_json(conn, "front_line", front_line_id, as_of=as_of)
    return cached(request, body, media_type=GEOJSON, as_of=as_of)


@router.get(
    "/frontlines/{front_line_id}/history",
    response_model=ResourceHistory,
    responses=ONE_PROBLEMS,
)
async def get_frontline_history(
    request: Request, conn: ReadConnection, front_line_id: FeatureId, page: HistoryPage
) -> Response:
    """Every version of a front line, oldest first (a deleted one keeps its history)."""
    return cached(request, await history_json(conn, "front_line", front_line_id, page, head={}))
