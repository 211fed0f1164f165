"""What routes answer besides their bodies: the problem responses they declare, and the answer of a write."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import JSONResponse, Response

from app.api.caching import GEOJSON, JSON
from app.db.transaction import in_transaction
from app.services import registry

MVT = "application/vnd.mapbox-vector-tile"
PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
CREATED: dict[int | str, dict[str, Any]] = {200: {"description": "Already stored with the same content"}}


def write_problems(scope: str, extra: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """A write's own problems: the scope its key needs, what is invalid in its body, and the route's own. What
    every write answers besides (a missing key, the rate, a body too large, an outage) app/api/openapi.py adds."""
    described = {
        403: f"The key lacks the {scope} scope",
        422: "Invalid fields, or an unknown parent, actor or source (named, with the closest matches)",
    }
    described |= extra or {}
    return {status: {"description": text, **PROBLEM} for status, text in described.items()}


def json_response(body: str | bytes, status: int, **headers: str) -> Response:
    return Response(body, status_code=status, media_type=JSON, headers=headers)


async def write(
    request: Request, work: Callable[[AsyncConnection], Awaitable[registry.Written]], location: str
) -> Response:
    """Run a write in its own transaction (retried on a deadlock) and answer with what it returns; `location`
    (where the row is read) is formatted with the written row's `slug` and `membership_id`."""
    written = await in_transaction(request.app.state.engine, work)
    where = location.format(slug=written.slug, membership_id=written.membership_id)
    return json_response(written.body, 201 if written.created else 200, Location=where)


class GeoJSONResponse(JSONResponse):
    """For the OpenAPI document: the route's model is served as application/geo+json (the route itself answers
    with the bytes PostgreSQL built)."""

    media_type = GEOJSON


class MVTResponse(Response):
    media_type = MVT


# A vector tile is binary: a client must not try to read it as text.
BINARY: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}
