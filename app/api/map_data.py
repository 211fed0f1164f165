"""What a map of the record needs besides places, areas and lines: the calendar of the data, areas inferred from
the places' control, and the places fought over with every party's colour."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.caching import GEOJSON, JSON, cached
from app.api.deps import ReadConnection
from app.api.params import DateQuery, parse_date
from app.db.queries.calendar import CALENDAR
from app.db.queries.inferred import CONTESTED, INFERRED_AREAS
from app.schemas.map import CalendarRead, ContestedRead, InferredAreas

router = APIRouter(prefix="/v1", tags=["map"])
BAD_DATE: dict[int | str, dict[str, Any]] = {
    400: {"description": "A bad date", "content": {"application/problem+json": {}}}
}


@router.get("/calendar", response_model=CalendarRead, responses={200: {"content": {JSON: {}}}})
async def calendar(request: Request, conn: ReadConnection) -> Response:
    """The data's first and last dates and every date with events (with how many): a time slider's scale."""
    body = await conn.scalar(CALENDAR)
    return cached(request, body)


@router.get(
    "/inferred",
    response_model=InferredAreas,
    responses={**BAD_DATE, 200: {"content": {GEOJSON: {}}}},
)
async def inferred(request: Request, conn: ReadConnection, at: DateQuery = None) -> Response:
    """Areas inferred from the places' control on a date (default today): each place's Voronoi cell among the
    places, cut to a reach by kind (city 30 km, town 15 km, airbase 10 km…), merged per holder;
    `basis: inferred`, a guess from points, not a sourced outline."""
    on = parse_date("at", at, default=date.today())
    body = await conn.scalar(INFERRED_AREAS, {"at": on})
    return cached(request, body, on, media_type=GEOJSON)


@router.get("/contested", response_model=ContestedRead, responses=BAD_DATE)
async def contested(request: Request, conn: ReadConnection, at: DateQuery = None) -> Response:
    """Places contested or besieged on a date (default today), with the holder and every party, in colour."""
    on = parse_date("at", at, default=date.today())
    body = await conn.scalar(CONTESTED, {"at": on})
    return cached(request, body, on)
