"""What routes answer besides their bodies: the problem responses they declare, and the answer of a write."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from app.api.caching import JSON
from app.db.transaction import in_transaction
from app.services import registry

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
CREATED: dict[int | str, dict[str, Any]] = {200: {"description": "Already stored with the same content"}}


def write_problems(scope: str, extra: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """The problems every write can answer (key, scope, validation, rate, retry), plus the route's own."""
    described = {
        401: "No API key, or an unknown or revoked one",
        403: f"The key lacks the {scope} scope",
        422: "Invalid fields, or an unknown parent, actor or source (named, with the closest matches)",
        429: "Too many requests for this key; see Retry-After",
        503: "A concurrent write could not be serialised; retry (see Retry-After)",
    }
    described |= extra or {}
    return {status: {"description": text, **PROBLEM} for status, text in described.items()}


def json_response(body: str | bytes, status: int, **headers: str) -> Response:
    return Response(body, status_code=status, media_type=JSON, headers=headers)


async def write(request: Request, work: Callable[[AsyncConnection], Awaitable[registry.Written]]) -> Response:
    """Run a write in its own transaction (retried on a deadlock) and answer with what it returns."""
    written = await in_transaction(request.app.state.engine, work)
    return json_response(written.body, 201 if written.created else 200, Location=written.location)
