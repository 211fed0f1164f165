"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.db.migrate import current_revision, head_revision
from app.db.queries.status import ping
from app.errors import ServiceUnavailable, database_unavailable

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (no database call)."""
    return {"status": "ok"}


@router.get(
    "/readyz", responses={503: {"description": "Database unreachable or schema not at the latest migration"}}
)
async def readyz(request: Request) -> dict[str, Any]:
    """The database answers both pools and its schema is at the latest migration; the 503 says why not. With
    read replicas, `replicas` gives each one's state and lag, and a primary away while a replica is healthy is
    `read-only` (reads are served, writes answer 503), not a 503."""
    routing = request.app.state.read_routing
    try:
        for engine in (request.app.state.read_engine, request.app.state.engine):
            async with engine.connect() as connection:
                await ping(connection)
        revision = await current_revision(request.app.state.read_engine)
    except Exception as exc:  # any failure to reach the database means not ready
        outage = database_unavailable(exc) or ServiceUnavailable(
            f"The database does not answer: {type(exc).__name__}",
            headers={"Retry-After": "2"},
            reason=type(exc).__name__,
        )
        if routing is not None and any(replica.state == "healthy" for replica in routing.replicas):
            return {"status": "read-only", "reason": outage.members["reason"], "replicas": routing.detail()}
        raise outage from exc
    head = head_revision()
    if revision != head:
        raise ServiceUnavailable(
            f"The schema is at revision {revision}, the code expects {head}.", reason="schema-not-at-head"
        )
    ready: dict[str, Any] = {"status": "ready", "revision": revision or ""}
    if routing is not None:
        ready["replicas"] = routing.detail()
    return ready
