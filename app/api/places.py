"""Places: search, detail, who held one on a date and its timeline; adding and correcting places and their
spellings (an `ingest` key: a feeding script adds the towns it reports on)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from app.api.auth import IngestKey
from app.api.caching import cached
from app.api.deps import ReadConnection
from app.api.filters import AsOf, AtMoment, HistoryPage, LeastConfidence, PlaceSearchQuery, PlacesPage
from app.api.responses import CREATED, write, write_problems
from app.db.queries.control import control_at_json, timeline_json
from app.db.queries.history import history_json
from app.db.queries.places import place_json, search_places_json
from app.db.queries.references import resolve_place
from app.schemas.history import ResourceHistory
from app.schemas.places import (
    ControlRead,
    PlaceCreate,
    PlaceNames,
    PlacePage,
    PlacePatch,
    PlaceRead,
    PlaceWritten,
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


@router.get("/places", response_model=PlacePage, responses={400: PROBLEMS[400]})
async def search_places(
    request: Request, conn: ReadConnection, where: PlaceSearchQuery, page: PlacesPage, as_of: AsOf
) -> Response:
    """Search places across every spelling (the close ones, else the similar), by similarity; `next` link paging."""
    return cached(request, await search_places_json(conn, where, page, as_of=as_of), as_of=as_of)


@router.get(
    "/places/{ref}",
    response_model=PlaceRead,
    responses={404: PROBLEMS[404], 409: PROBLEMS[409]},
)
async def get_place(request: Request, conn: ReadConnection, ref: PlaceRefPath, as_of: AsOf) -> Response:
    """One place: its location, kind, parent, children and every known spelling."""
    return cached(request, await place_json(conn, ref, as_of=as_of), as_of=as_of)


@router.get("/places/{ref}/control", response_model=ControlRead, responses=PROBLEMS)
async def get_place_control(
    request: Request, conn: ReadConnection, ref: PlaceRefPath, when: AtMoment
) -> Response:
    """Who held the place on a date (default today), since when, with the event and sources behind it."""
    body = await control_at_json(conn, ref=ref, at=when.at, as_of=when.as_of, confidence=when.confidence)
    return cached(request, body, when.at, as_of=when.as_of)


@router.get(
    "/places/{ref}/timeline",
    response_model=TimelineRead,
    responses={404: PROBLEMS[404], 409: PROBLEMS[409]},
)
async def get_place_timeline(
    request: Request, conn: ReadConnection, ref: PlaceRefPath, as_of: AsOf, confidence: LeastConfidence
) -> Response:
    """The place's control periods and events, in date order, with sources."""
    body = await timeline_json(conn, ref=ref, as_of=as_of, confidence=confidence)
    return cached(request, body, as_of=as_of)


@router.post(
    "/places",
    response_model=PlaceWritten,
    status_code=201,
    responses={**CREATED, **write_problems("ingest", {409: "The slug is stored with other content"})},
)
async def create_place(request: Request, place: PlaceCreate, key: IngestKey) -> Response:
    """Add a place with its spellings; `warnings` says when a spelling also names another place."""
    return await write(request, lambda conn: service.create_place(conn, place, key=key), "/v1/places/{slug}")


@router.patch(
    "/places/{slug}",
    response_model=PlaceWritten,
    responses=write_problems("ingest", {404: "No place has that slug; the problem lists the closest"}),
)
async def correct_place(request: Request, slug: Slug, patch: PlacePatch, key: IngestKey) -> Response:
    """Correct a place: the fields given replace the stored ones."""
    return await write(
        request, lambda conn: service.correct_place(conn, slug, patch, key=key), "/v1/places/{slug}"
    )


@router.post(
    "/places/{slug}/names",
    response_model=PlaceWritten,
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
    return await write(
        request, lambda conn: service.add_names(conn, slug, body.names, key=key), "/v1/places/{slug}"
    )


@router.delete(
    "/places/{slug}/names/{name:path}",
    response_model=PlaceWritten,
    responses=write_problems(
        "ingest",
        {404: "No such place, or no such spelling of it", 409: "The spelling is the primary name"},
    ),
)
async def remove_place_name(request: Request, slug: Slug, name: str, key: IngestKey) -> Response:
    """Remove one spelling of a place (exact match; never its primary name) and answer with the place."""
    return await write(
        request, lambda conn: service.remove_name(conn, slug, name, key=key), "/v1/places/{slug}"
    )


@router.get(
    "/places/{ref}/history",
    response_model=ResourceHistory,
    responses={404: PROBLEMS[404], 409: PROBLEMS[409], 400: PROBLEMS[400]},
)
async def get_place_history(
    request: Request, conn: ReadConnection, ref: PlaceRefPath, page: HistoryPage
) -> Response:
    """Every version of a place and of its spellings, oldest first: what each said and when it was the record."""
    place = await resolve_place(conn, ref)
    return cached(request, await history_json(conn, "place", place["id"], page, head={"slug": place["slug"]}))
