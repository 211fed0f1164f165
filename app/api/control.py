"""The state of every place on a date (GeoJSON), what changed between two dates, and who held how much."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.caching import GEOJSON, cached
from app.api.deps import READ, ReadConnection
from app.api.filters import AsOf, ChangesPage, ChangesQuery, ControlQuery, OnDate
from app.api.responses import GeoJSONResponse
from app.db.queries.control import changes_json, control_map_json, summary_json
from app.schemas.control import ChangesRead, ControlMap, SummaryRead

router = APIRouter(prefix="/v1", tags=["control"])
BAD_INPUT: dict[int | str, dict[str, Any]] = {
    400: {"description": "A parameter is invalid", "content": {"application/problem+json": {}}}
}


@router.get(
    "/control",
    dependencies=READ,
    response_model=ControlMap,
    response_class=GeoJSONResponse,
    responses=BAD_INPUT,
)
async def get_control_map(request: Request, conn: ReadConnection, where: ControlQuery) -> Response:
    """Every place's state on a date, as a GeoJSON FeatureCollection ready for a map."""
    return cached(
        request, await control_map_json(conn, where), where.at, media_type=GEOJSON, as_of=where.as_of
    )


@router.get("/changes", response_model=ChangesRead, dependencies=READ, responses=BAD_INPUT)
async def get_changes(
    request: Request, conn: ReadConnection, where: ChangesQuery, page: ChangesPage
) -> Response:
    """Places whose holder or status differs between two dates, each with before, after and the events between."""
    return cached(request, await changes_json(conn, where, page), where.start, where.end, as_of=where.as_of)


@router.get("/summary", response_model=SummaryRead, dependencies=READ, responses=BAD_INPUT)
async def get_summary(request: Request, conn: ReadConnection, at: OnDate, as_of: AsOf) -> Response:
    """Per actor and coalition on a date: places held (by kind), places contested, and area held in km²."""
    return cached(request, await summary_json(conn, at=at, as_of=as_of), at, as_of=as_of)
