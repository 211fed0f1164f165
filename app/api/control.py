"""The state of every place on a date (GeoJSON), what changed between two dates, and who held how much."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.caching import GEOJSON, cached
from app.api.deps import ReadConnection
from app.api.exports import export_response, with_slugs
from app.api.filters import (
    AsOf,
    ChangesPage,
    ChangesQuery,
    ControlQuery,
    DisputesPage,
    DisputesQuery,
    LeastConfidence,
    OnDate,
)
from app.api.formats import EXPORT_CONTENT, JSON, NOT_ACCEPTABLE, FormatQuery, export_format
from app.api.responses import GeoJSONResponse
from app.api.streams import streamed
from app.db.queries.control import (
    changes_chunks,
    changes_json,
    control_map_chunks,
    control_map_json,
    summary_json,
)
from app.db.queries.disputes import disputes_json
from app.db.queries.exports import change_rows, control_rows
from app.schemas.control import ChangesRead, ControlMap, DisputesRead, SummaryRead

router = APIRouter(prefix="/v1", tags=["control"])
BAD_INPUT: dict[int | str, dict[str, Any]] = {
    400: {"description": "A parameter is invalid", "content": {"application/problem+json": {}}}
}
EXPORTABLE: dict[int | str, dict[str, Any]] = {
    **BAD_INPUT,
    **NOT_ACCEPTABLE,
    200: {"content": EXPORT_CONTENT},
}


@router.get(
    "/control",
    response_model=ControlMap,
    response_class=GeoJSONResponse,
    responses=EXPORTABLE,
)
async def get_control_map(
    request: Request, conn: ReadConnection, where: ControlQuery, f: FormatQuery = None
) -> Response:
    """Every place's state on a date, as a GeoJSON FeatureCollection ready for a map (or an export: `f`)."""
    if media_type := export_format(request, f, {"geojson": GEOJSON}, JSON):
        return await export_response(
            request,
            media_type,
            [control_rows(await with_slugs(conn, where))],
            f"control-{where.at}",
            as_of=where.as_of,
        )
    if where.bbox is None:  # every place: streamed (app/api/streams.py)
        batch = request.app.state.settings.stream_batch_rows
        return await streamed(
            request,
            conn,
            lambda snapshot: control_map_chunks(snapshot, where, batch=batch),
            media_type=GEOJSON,
            as_of=where.as_of,
        )
    return cached(
        request, await control_map_json(conn, where), where.at, media_type=GEOJSON, as_of=where.as_of
    )


@router.get("/changes", response_model=ChangesRead, responses=EXPORTABLE)
async def get_changes(
    request: Request, conn: ReadConnection, where: ChangesQuery, page: ChangesPage, f: FormatQuery = None
) -> Response:
    """Places whose holder or status differs between two dates, each with before, after and the events between.

    An export (`f`) holds every such place, one row each, unpaged."""
    if media_type := export_format(request, f, {"json": JSON}):
        name = f"changes-{where.start}-{where.end}"
        return await export_response(
            request, media_type, [change_rows(await with_slugs(conn, where))], name, as_of=where.as_of
        )
    if where.bbox is None:  # up to `limit` of every place: streamed (app/api/streams.py)
        # A place's changes over years weigh as much as ~8 features of the map: batches of about the same bytes.
        batch = max(1, request.app.state.settings.stream_batch_rows // 8)
        return await streamed(
            request,
            conn,
            lambda snapshot: changes_chunks(snapshot, where, page, batch=batch),
            media_type=JSON,
            as_of=where.as_of,
        )
    return cached(request, await changes_json(conn, where, page), where.start, where.end, as_of=where.as_of)


@router.get("/disputes", response_model=DisputesRead, responses=BAD_INPUT)
async def get_disputes(
    request: Request, conn: ReadConnection, where: DisputesQuery, page: DisputesPage
) -> Response:
    """Where sources disagree between two dates: each disputed period, the state it resolved to, and the rivals."""
    return cached(request, await disputes_json(conn, where, page), where.start, where.end)


@router.get("/summary", response_model=SummaryRead, responses=BAD_INPUT)
async def get_summary(
    request: Request, conn: ReadConnection, at: OnDate, as_of: AsOf, confidence: LeastConfidence
) -> Response:
    """Per actor and coalition on a date: places held (by kind), places contested, and area held in km²."""
    body = await summary_json(conn, at=at, as_of=as_of, confidence=confidence)
    return cached(request, body, at, as_of=as_of)
