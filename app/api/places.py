"""Places: search, detail, who held one on a date and its timeline; adding and correcting places and their
spellings (an `ingest` key: a feeding script adds the towns it reports on)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import text
from starlette.responses import Response

from app.api.auth import IngestKey
from app.api.caching import cached
from app.api.deps import READ, ReadConnection
from app.api.params import (
    AsOfQuery,
    BboxQuery,
    DateQuery,
    decode_cursor,
    encode_cursor,
    parse_as_of,
    parse_bbox,
    parse_date,
    parse_list,
    parse_point,
)
from app.api.responses import CREATED, write, write_problems
from app.db.queries.control import control_at_json, timeline_json
from app.db.queries.places import PLACE_DETAIL, one_place_json, search_sql
from app.errors import InvalidParameter
from app.schemas.places import (
    ControlRead,
    PlaceCreate,
    PlaceNames,
    PlacePage,
    PlacePatch,
    PlaceRead,
    TimelineRead,
)
from app.services import registry as service

router = APIRouter(prefix="/v1", tags=["places"])

PlaceRefPath = Annotated[
    str,
    Path(
        description="The place's id, slug, or any known spelling (case- and accent-insensitive).",
        openapi_examples={
            "slug": {"value": "palmyra"},
            "spelling": {"value": "Tadmur"},
            "arabic": {"value": "دير الزور"},
        },
    ),
]
Slug = Annotated[str, Path(max_length=120, description="The slug")]
PROBLEMS: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "No place has that name; the problem lists the closest names",
        "content": {"application/problem+json": {}},
    },
    409: {
        "description": "The name is shared by several places; the problem lists them",
        "content": {"application/problem+json": {}},
    },
    400: {"description": "A parameter is invalid", "content": {"application/problem+json": {}}},
}


@router.get("/places", response_model=PlacePage, dependencies=READ, responses={400: PROBLEMS[400]})
async def search_places(
    request: Request,
    conn: ReadConnection,
    q: Annotated[
        str | None,
        Query(
            description="Any spelling, or part of one", openapi_examples={"typo": {"value": "Dayr az Zor"}}
        ),
    ] = None,
    near: Annotated[
        str | None, Query(description="LON,LAT: places within radius_km of this point, nearest first")
    ] = None,
    radius_km: Annotated[float, Query(gt=0, le=2000, description="Radius around `near`, in km")] = 50,
    bbox: BboxQuery = None,
    kind: Annotated[
        str | None, Query(description="Comma-separated place kinds: city,town,airbase...")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Items per page")] = 50,
    cursor: Annotated[str | None, Query(description="From the `next` link of the previous page")] = None,
) -> Response:
    """Search places across every spelling, ranked by similarity; cursor-paginated with a `next` link."""
    point, box, kinds = parse_point("near", near), parse_bbox(bbox), parse_list(kind)
    after = decode_cursor(cursor, 2)
    if q is not None and not q.strip():
        raise InvalidParameter("q", "must not be empty")
    sql = search_sql(
        q=bool(q),
        near=point is not None,
        bbox=box is not None,
        kinds=kinds is not None,
        after=after is not None,
    )
    params: dict[str, object] = {"q": q, "kinds": kinds, "limit": limit + 1}
    if point:
        params |= {"lon": point[0], "lat": point[1], "radius_m": radius_km * 1000}
    if box:
        params |= box.params()
    if after:
        params |= {"after_key": float(after[0]), "after_id": int(after[1])}
    rows = (await conn.execute(text(sql), params)).all()
    next_link = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_link = str(
            request.url.include_query_params(cursor=encode_cursor([rows[-1].sort_key, rows[-1].id]))
        )
    body = (
        '{"items":['
        + ",".join(row.item for row in rows)
        + '],"next":'
        + orjson.dumps(next_link).decode()
        + "}"
    )
    return cached(request, body)


@router.get(
    "/places/{ref}",
    response_model=PlaceRead,
    dependencies=READ,
    responses={404: PROBLEMS[404], 409: PROBLEMS[409]},
)
async def get_place(request: Request, conn: ReadConnection, ref: PlaceRefPath) -> Response:
    """One place: its location, kind, parent, children and every known spelling."""
    return cached(request, await one_place_json(conn, PLACE_DETAIL, ref))


@router.get("/places/{ref}/control", response_model=ControlRead, dependencies=READ, responses=PROBLEMS)
async def get_control(
    request: Request, conn: ReadConnection, ref: PlaceRefPath, at: DateQuery = None, as_of: AsOfQuery = None
) -> Response:
    """Who held the place on a date (default today), since when, with the event and sources behind it."""
    on, moment = parse_date("at", at, default=date.today()), parse_as_of(as_of)
    return cached(request, await control_at_json(conn, ref=ref, at=on, as_of=moment), on)


@router.get(
    "/places/{ref}/timeline",
    response_model=TimelineRead,
    dependencies=READ,
    responses={404: PROBLEMS[404], 409: PROBLEMS[409]},
)
async def get_timeline(
    request: Request, conn: ReadConnection, ref: PlaceRefPath, as_of: AsOfQuery = None
) -> Response:
    """The place's control periods and events, in date order, with sources."""
    return cached(request, await timeline_json(conn, ref=ref, as_of=parse_as_of(as_of)))


@router.post(
    "/places",
    status_code=201,
    responses={**CREATED, **write_problems("ingest", {409: "The slug is stored with other content"})},
)
async def create_place(request: Request, place: PlaceCreate, key: IngestKey) -> Response:
    """Add a place with its spellings; `warnings` says when a spelling also names another place."""
    return await write(request, lambda conn: service.create_place(conn, place, key=key))


@router.patch(
    "/places/{slug}",
    responses=write_problems("ingest", {404: "No place has that slug; the problem lists the closest"}),
)
async def correct_place(request: Request, slug: Slug, patch: PlacePatch, key: IngestKey) -> Response:
    """Correct a place: the fields given replace the stored ones."""
    return await write(request, lambda conn: service.correct_place(conn, slug, patch, key=key))


@router.post(
    "/places/{slug}/names",
    status_code=201,
    responses={
        200: {"description": "The place already had every spelling"},
        **write_problems(
            "ingest",
            {404: "No place has that slug", 409: "A spelling is stored with another language"},
        ),
    },
)
async def add_place_names(request: Request, slug: Slug, body: PlaceNames, key: IngestKey) -> Response:
    """Add spellings to a place, so lookups find it by them; `warnings` says when one names another place too."""
    return await write(request, lambda conn: service.add_names(conn, slug, body.names, key=key))


@router.delete(
    "/places/{slug}/names/{name:path}",
    responses=write_problems(
        "ingest",
        {404: "No such place, or no such spelling of it", 409: "The spelling is the primary name"},
    ),
)
async def remove_place_name(request: Request, slug: Slug, name: str, key: IngestKey) -> Response:
    """Remove one spelling of a place (exact match; never its primary name) and answer with the place."""
    return await write(request, lambda conn: service.remove_name(conn, slug, name, key=key))
