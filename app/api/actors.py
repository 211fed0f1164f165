"""Armed actors, coalitions over time and their memberships: read them; add and correct them with an `admin`
key (they decide how every answer is grouped)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from app.api.auth import AdminKey
from app.api.caching import cached
from app.api.deps import ReadConnection
from app.api.filters import AsOf, HistoryPage
from app.api.params import DateQuery, parse_date
from app.api.responses import CREATED, PROBLEM, write, write_problems
from app.db.queries.actors import actor_json, actors_json, coalition_json, coalitions_json
from app.db.queries.history import history_json
from app.db.queries.references import resolve
from app.schemas.actors import (
    ActorCreate,
    ActorDetail,
    ActorPatch,
    ActorRead,
    ActorWritten,
    CoalitionCreate,
    CoalitionDetail,
    CoalitionPatch,
    CoalitionRead,
    MembershipCreate,
    MembershipPatch,
    MembershipRead,
)
from app.schemas.history import ResourceHistory
from app.services import registry as service

router = APIRouter(prefix="/v1", tags=["actors and coalitions"])
Slug = Annotated[str, Path(max_length=120, description="The slug")]
MembershipId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The membership's id")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "Nothing has that slug, name or alias; the problem suggests the closest",
        "content": {"application/problem+json": {}},
    }
}


@router.get("/actors", response_model=list[ActorRead])
async def list_actors(request: Request, conn: ReadConnection, as_of: AsOf) -> Response:
    """Every armed actor, with its kind, aliases, parent and map colour."""
    return cached(request, await actors_json(conn, as_of=as_of), as_of=as_of)


@router.get("/actors/{slug}", response_model=ActorDetail, responses=NOT_FOUND)
async def get_actor(request: Request, conn: ReadConnection, slug: str, as_of: AsOf) -> Response:
    """One actor, with its coalition memberships over time."""
    return cached(request, await actor_json(conn, slug, as_of=as_of), as_of=as_of)


@router.get("/coalitions", response_model=list[CoalitionRead])
async def list_coalitions(request: Request, conn: ReadConnection, as_of: AsOf) -> Response:
    """Every coalition, with how many actors have ever been members."""
    return cached(request, await coalitions_json(conn, as_of=as_of), as_of=as_of)


@router.get("/coalitions/{slug}", response_model=CoalitionDetail, responses=NOT_FOUND)
async def get_coalition(
    request: Request, conn: ReadConnection, slug: str, as_of: AsOf, at: DateQuery = None
) -> Response:
    """One coalition and its members: on the date `at` when given, otherwise every membership over time."""
    on = parse_date("at", at) if at else None
    return cached(request, await coalition_json(conn, slug, at=on, as_of=as_of), on, as_of=as_of)


@router.post(
    "/actors",
    response_model=ActorWritten,
    status_code=201,
    responses={**CREATED, **write_problems("admin", {409: "The slug is stored with other content"})},
)
async def create_actor(request: Request, actor: ActorCreate, key: AdminKey) -> Response:
    """Add an armed actor; `warnings` says when a name or alias also names another actor."""
    return await write(request, lambda conn: service.create_actor(conn, actor, key=key), "/v1/actors/{slug}")


@router.patch(
    "/actors/{slug}",
    response_model=ActorWritten,
    responses=write_problems("admin", {404: "No actor has that slug"}),
)
async def correct_actor(request: Request, slug: Slug, patch: ActorPatch, key: AdminKey) -> Response:
    """Correct an actor: the fields given replace the stored ones."""
    return await write(
        request, lambda conn: service.correct_actor(conn, slug, patch, key=key), "/v1/actors/{slug}"
    )


@router.post(
    "/coalitions",
    response_model=CoalitionDetail,
    status_code=201,
    responses={
        **CREATED,
        **write_problems("admin", {409: "The slug is stored with other content, or without a listed member"}),
    },
)
async def create_coalition(request: Request, coalition: CoalitionCreate, key: AdminKey) -> Response:
    """Add a coalition, with its memberships over time."""
    return await write(
        request, lambda conn: service.create_coalition(conn, coalition, key=key), "/v1/coalitions/{slug}"
    )


@router.patch(
    "/coalitions/{slug}",
    response_model=CoalitionDetail,
    responses=write_problems("admin", {404: "No coalition has that slug"}),
)
async def correct_coalition(request: Request, slug: Slug, patch: CoalitionPatch, key: AdminKey) -> Response:
    """Correct a coalition's name, description or colour."""
    return await write(
        request, lambda conn: service.correct_coalition(conn, slug, patch, key=key), "/v1/coalitions/{slug}"
    )


@router.post(
    "/coalitions/{slug}/members",
    response_model=MembershipRead,
    status_code=201,
    responses={
        200: {"description": "Already stored"},
        **write_problems(
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
    response_model=MembershipRead,
    responses={404: {"description": "No such membership of this coalition", **PROBLEM}},
)
async def get_membership(
    request: Request, conn: ReadConnection, slug: Slug, membership_id: MembershipId, as_of: AsOf
) -> Response:
    """One membership: the actor, the coalition, `[from, to)`, role, note and source."""
    body = await service.membership_json(conn, slug, membership_id, as_of=as_of)
    return cached(request, body, as_of=as_of)


@router.patch(
    "/coalitions/{slug}/members/{membership_id}",
    response_model=MembershipRead,
    responses=write_problems(
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
    response_model=CoalitionDetail,
    responses=write_problems("admin", {404: "No such membership of this coalition"}),
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


@router.get(
    "/actors/{slug}/history",
    response_model=ResourceHistory,
    responses={**NOT_FOUND, 400: {"description": "A bad cursor or limit", **PROBLEM}},
)
async def get_actor_history(
    request: Request, conn: ReadConnection, slug: Slug, page: HistoryPage
) -> Response:
    """Every version of an actor and of its memberships, oldest first: what each said and when it was the record."""
    actor = await resolve(conn, "actor", slug, field="slug")
    return cached(request, await history_json(conn, "actor", actor["id"], page, head={"slug": actor["slug"]}))


@router.get(
    "/coalitions/{slug}/history",
    response_model=ResourceHistory,
    responses={**NOT_FOUND, 400: {"description": "A bad cursor or limit", **PROBLEM}},
)
async def get_coalition_history(
    request: Request, conn: ReadConnection, slug: Slug, page: HistoryPage
) -> Response:
    """Every version of a coalition and of its memberships, oldest first (a corrected membership shows here)."""
    coalition = await resolve(conn, "coalition", slug, field="slug")
    body = await history_json(conn, "coalition", coalition["id"], page, head={"slug": coalition["slug"]})
    return cached(request, body)
