"""Writing the reference data events point to. Places, their spellings and sources need an `ingest` key (a
feeding script adds the towns and reports it cites); actors, coalitions and memberships an `admin` key (they
decide how every answer is grouped). Every write is one transaction, and idempotent: the same create again
answers 200 with what is stored, other content under the same slug 409.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from app.api.auth import AdminKey, IngestKey, read_access
from app.api.caching import JSON, cached
from app.api.deps import ReadConnection, in_transaction
from app.db.queries.registry import SOURCES
from app.schemas.registry import (
    ActorCreate,
    ActorPatch,
    CoalitionCreate,
    CoalitionPatch,
    MembershipCreate,
    MembershipPatch,
    PlaceCreate,
    PlaceNames,
    PlacePatch,
    SourceCreate,
    SourcePatch,
)
from app.services import registry as service

router = APIRouter(prefix="/v1")

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


def problems(scope: str, extra: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    described = {
        401: "No API key, or an unknown or revoked one",
        403: f"The key lacks the {scope} scope",
        422: "Invalid fields, or an unknown parent, actor or source (named, with the closest matches)",
        429: "Too many requests for this key; see Retry-After",
        503: "A concurrent write could not be serialised; retry (see Retry-After)",
    }
    described |= extra or {}
    return {status: {"description": text, **PROBLEM} for status, text in described.items()}


CREATED: dict[int | str, dict[str, Any]] = {200: {"description": "Already stored with the same content"}}
Slug = Annotated[str, Path(max_length=120, description="The slug")]
MembershipId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The membership's id")]


async def write(
    request: Request, work: Callable[[AsyncConnection], Awaitable[service.Written]], location: str
) -> Response:
    """Run a write in its own transaction (retried on a deadlock) and answer with what it returns; `location`
    is where the row is read, formatted with its `slug` and `membership_id`."""
    written = await in_transaction(request.app.state.engine, work)
    return Response(
        written.body,
        status_code=201 if written.created else 200,
        media_type=JSON,
        headers={"Location": location.format(slug=written.slug, membership_id=written.membership_id)},
    )


# --- Places and spellings (ingest) --------------------------------------------------------------------------


@router.post(
    "/places",
    tags=["places"],
    status_code=201,
    responses={**CREATED, **problems("ingest", {409: "The slug is stored with other content"})},
)
async def create_place(request: Request, place: PlaceCreate, key: IngestKey) -> Response:
    """Add a place with its spellings; `warnings` says when a spelling also names another place."""
    return await write(request, lambda conn: service.create_place(conn, place, key=key), "/v1/places/{slug}")


@router.patch(
    "/places/{slug}",
    tags=["places"],
    responses=problems("ingest", {404: "No place has that slug; the problem lists the closest"}),
)
async def correct_place(request: Request, slug: Slug, patch: PlacePatch, key: IngestKey) -> Response:
    """Correct a place: the fields given replace the stored ones."""
    return await write(
        request, lambda conn: service.correct_place(conn, slug, patch, key=key), "/v1/places/{slug}"
    )


@router.post(
    "/places/{slug}/names",
    tags=["places"],
    status_code=201,
    responses={
        200: {"description": "The place already had every spelling"},
        **problems(
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
    tags=["places"],
    responses=problems(
        "ingest",
        {404: "No such place, or no such spelling of it", 409: "The spelling is the primary name"},
    ),
)
async def remove_place_name(request: Request, slug: Slug, name: str, key: IngestKey) -> Response:
    """Remove one spelling of a place (exact match; never its primary name) and answer with the place."""
    return await write(
        request, lambda conn: service.remove_name(conn, slug, name, key=key), "/v1/places/{slug}"
    )


# --- Sources (ingest) ---------------------------------------------------------------------------------------


@router.get("/sources", tags=["sources"], dependencies=[Depends(read_access)])
async def list_sources(request: Request, conn: ReadConnection) -> Response:
    """Every source events and memberships may cite, by slug."""
    return cached(request, str(await conn.scalar(SOURCES)))


@router.get(
    "/sources/{slug}",
    tags=["sources"],
    dependencies=[Depends(read_access)],
    responses={404: {"description": "No source has that slug", **PROBLEM}},
)
async def get_source(request: Request, conn: ReadConnection, slug: Slug) -> Response:
    """One source, with how many events and memberships cite it."""
    return cached(request, await service.source_json(conn, slug))


@router.post(
    "/sources",
    tags=["sources"],
    status_code=201,
    responses={**CREATED, **problems("ingest", {409: "The slug is stored with other content"})},
)
async def create_source(request: Request, source: SourceCreate, key: IngestKey) -> Response:
    """Add a source that events and memberships can cite by its slug."""
    return await write(
        request, lambda conn: service.create_source(conn, source, key=key), "/v1/sources/{slug}"
    )


@router.patch(
    "/sources/{slug}",
    tags=["sources"],
    responses=problems("ingest", {404: "No source has that slug"}),
)
async def correct_source(request: Request, slug: Slug, patch: SourcePatch, key: IngestKey) -> Response:
    """Correct a source: the fields given replace the stored ones."""
    return await write(
        request, lambda conn: service.correct_source(conn, slug, patch, key=key), "/v1/sources/{slug}"
    )


# --- Actors (admin) -----------------------------------------------------------------------------------------


@router.post(
    "/actors",
    tags=["actors and coalitions"],
    status_code=201,
    responses={**CREATED, **problems("admin", {409: "The slug is stored with other content"})},
)
async def create_actor(request: Request, actor: ActorCreate, key: AdminKey) -> Response:
    """Add an armed actor; `warnings` says when a name or alias also names another actor."""
    return await write(request, lambda conn: service.create_actor(conn, actor, key=key), "/v1/actors/{slug}")


@router.patch(
    "/actors/{slug}",
    tags=["actors and coalitions"],
    responses=problems("admin", {404: "No actor has that slug"}),
)
async def correct_actor(request: Request, slug: Slug, patch: ActorPatch, key: AdminKey) -> Response:
    """Correct an actor: the fields given replace the stored ones."""
    return await write(
        request, lambda conn: service.correct_actor(conn, slug, patch, key=key), "/v1/actors/{slug}"
    )


# --- Coalitions and memberships (admin) ---------------------------------------------------------------------


@router.post(
    "/coalitions",
    tags=["actors and coalitions"],
    status_code=201,
    responses={
        **CREATED,
        **problems("admin", {409: "The slug is stored with other content, or without a listed member"}),
    },
)
async def create_coalition(request: Request, coalition: CoalitionCreate, key: AdminKey) -> Response:
    """Add a coalition, with its memberships over time."""
    return await write(
        request, lambda conn: service.create_coalition(conn, coalition, key=key), "/v1/coalitions/{slug}"
    )


@router.patch(
    "/coalitions/{slug}",
    tags=["actors and coalitions"],
    responses=problems("admin", {404: "No coalition has that slug"}),
)
async def correct_coalition(request: Request, slug: Slug, patch: CoalitionPatch, key: AdminKey) -> Response:
    """Correct a coalition's name, description or colour."""
    return await write(
        request, lambda conn: service.correct_coalition(conn, slug, patch, key=key), "/v1/coalitions/{slug}"
    )


@router.post(
    "/coalitions/{slug}/members",
    tags=["actors and coalitions"],
    status_code=201,
    responses={
        200: {"description": "Already stored"},
        **problems(
            "admin",
            {
                404: "No coalition has that slug",
                409: "The actor is already a member on one of those days; `overlaps` lists the memberships",
            },
        ),
    },
)
async def add_membership(
    request: Request, slug: Slug, membership: MembershipCreate, key: AdminKey
) -> Response:
    """Record that an actor belonged to the coalition over `[from, to)`."""
    return await write(
        request,
        lambda conn: service.add_membership(conn, slug, membership, key=key),
        "/v1/coalitions/{slug}/members/{membership_id}",
    )


@router.get(
    "/coalitions/{slug}/members/{membership_id}",
    tags=["actors and coalitions"],
    dependencies=[Depends(read_access)],
    responses={404: {"description": "No such membership of this coalition", **PROBLEM}},
)
async def get_membership(
    request: Request, conn: ReadConnection, slug: Slug, membership_id: MembershipId
) -> Response:
    """One membership: the actor, the coalition, `[from, to)`, role, note and source."""
    return cached(request, await service.membership_json(conn, slug, membership_id))


@router.patch(
    "/coalitions/{slug}/members/{membership_id}",
    tags=["actors and coalitions"],
    responses=problems(
        "admin",
        {
            404: "No such membership of this coalition",
            409: "The new dates overlap another membership of the actor; `overlaps` lists it",
        },
    ),
)
async def correct_membership(
    request: Request, slug: Slug, membership_id: MembershipId, patch: MembershipPatch, key: AdminKey
) -> Response:
    """Correct a membership, e.g. end it: `{"to": "2017-11-01"}` (exclusive)."""
    return await write(
        request,
        lambda conn: service.correct_membership(conn, slug, membership_id, patch, key=key),
        "/v1/coalitions/{slug}/members/{membership_id}",
    )


@router.delete(
    "/coalitions/{slug}/members/{membership_id}",
    tags=["actors and coalitions"],
    responses=problems("admin", {404: "No such membership of this coalition"}),
)
async def remove_membership(
    request: Request, slug: Slug, membership_id: MembershipId, key: AdminKey
) -> Response:
    """Delete a membership recorded in error and answer with the coalition (to end one, PATCH its `to`)."""
    return await write(
        request,
        lambda conn: service.remove_membership(conn, slug, membership_id, key=key),
        "/v1/coalitions/{slug}",
    )
