"""What a map of the record needs besides places, areas and lines: the calendar of the data, areas inferred from
the places' control, and the places fought over with every party's colour."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.caching import GEOJSON, cached
from app.api.deps import ReadConnection
from app.api.filters import OnDate
from app.api.responses import GeoJSONResponse
from app.db.queries.calendar import calendar_json
from app.db.queries.inferred import contested_json, inferred_json
from app.schemas.map import CalendarRead, ContestedRead, InferredAreas
from app.services.borders import country_borders

router = APIRouter(prefix="/v1", tags=["map"])
BAD_DATE: dict[int | str, dict[str, Any]] = {
    400: {"description": "A bad date", "content": {"application/problem+json": {}}}
}


@router.get("/calendar", response_model=CalendarRead)
async def get_calendar(request: Request, conn: ReadConnection) -> Response:
    """The data's first and last dates and every date with events (with how many): a time slider's scale."""
    return cached(request, await calendar_json(conn))


@router.get(
    "/inferred",
    response_model=InferredAreas,
    response_class=GeoJSONResponse,
    responses=BAD_DATE,
)
async def get_inferred(request: Request, conn: ReadConnection, at: OnDate) -> Response:
    """Areas inferred from the places' control on a date (default today): each place's Voronoi cell among the
    places, cut to a reach by kind (city 30 km, town 15 km, airbase 10 km…) and to the place's country, merged
    per holder; `basis: inferred`, a guess from points, not a sourced outline."""
    body = await inferred_json(conn, at=at, borders=country_borders())
    return cached(request, body, at, media_type=GEOJSON)


@router.get("/contested", response_model=ContestedRead, responses=BAD_DATE)
async def get_contested(request: Request, conn: ReadConnection, at: OnDate) -> Response:
    """Places contested or besieged on a date (default today), with the holder and every party, in colour."""
    return cached(request, await contested_json(conn, at=at), at)
