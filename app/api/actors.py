"""Actors, coalitions over time, and the per-date summary."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.caching import cached
from app.api.deps import ReadConnection
from app.api.params import AsOfQuery, DateQuery, parse_as_of, parse_date
from app.db.queries.actors import ACTOR, ACTOR_SLUGS, ACTORS, COALITION, COALITION_SLUGS, COALITIONS, SUMMARY
from app.db.queries.as_of import as_of_sql
from app.errors import NotFound

router = APIRouter(prefix="/v1", tags=["actors and coalitions"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "Unknown slug; the problem lists the known ones",
        "content": {"application/problem+json": {}},
    }
}


async def _unknown(conn: ReadConnection, what: str, slug: str, statement: Any) -> NotFound:
    known = list((await conn.scalars(statement)).all())
    return NotFound(f"No {what} has the slug '{slug}'. Known: {', '.join(known)}.", known=known)


@router.get("/actors")
async def list_actors(request: Request, conn: ReadConnection) -> Response:
    """Every armed actor, with its kind, aliases, parent and map colour."""
    return cached(request, await conn.scalar(ACTORS))


@router.get("/actors/{slug}", responses=NOT_FOUND)
async def get_actor(request: Request, conn: ReadConnection, slug: str) -> Response:
    """One actor, with its coalition memberships over time."""
    body = await conn.scalar(ACTOR, {"slug": slug})
    if body is None:
        raise await _unknown(conn, "actor", slug, ACTOR_SLUGS)
    return cached(request, body)


@router.get("/coalitions")
async def list_coalitions(request: Request, conn: ReadConnection) -> Response:
    """Every coalition, with how many actors have ever been members."""
    return cached(request, await conn.scalar(COALITIONS))


@router.get("/coalitions/{slug}", responses=NOT_FOUND)
async def get_coalition(request: Request, conn: ReadConnection, slug: str, at: DateQuery = None) -> Response:
    """One coalition and its members: on the date `at` when given, otherwise every membership over time."""
    on = parse_date("at", at) if at else None
    body = await conn.scalar(COALITION, {"slug": slug, "at": on})
    if body is None:
        raise await _unknown(conn, "coalition", slug, COALITION_SLUGS)
    return cached(request, body, on)


@router.get("/summary")
async def summary(
    request: Request, conn: ReadConnection, at: DateQuery = None, as_of: AsOfQuery = None
) -> Response:
    """Per actor and coalition on a date: places held (by kind), places contested, and area held in km²."""
    on, moment = parse_date("at", at, default=date.today()), parse_as_of(as_of)
    statement = SUMMARY if moment is None else as_of_sql(SUMMARY.text)
    return cached(request, await conn.scalar(statement, {"at": on, "as_of": moment}), on, as_of=moment)
