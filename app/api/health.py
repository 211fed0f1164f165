"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text

from app.db.migrate import current_revision, head_revision
from app.errors import ServiceUnavailable, database_unavailable

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (no database call)."""
    return {"status": "ok"}


@router.get(
    "/readyz", responses={503: {"description": "Database unreachable or schema not at the latest migration"}}
)
async def readyz(request: Request) -> dict[str, str]:
    """The database answers both pools and its schema is at the latest migration; the 503 says why not."""
    try:
        for engine in (request.app.state.read_engine, request.app.state.engine):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        revision = await current_revision(request.app.state.read_engine)
    except Exception as exc:  # any failure to reach the database means not ready
        raise database_unavailable(exc) or ServiceUnavailable(
            f"The database does not answer: {type(exc).__name__}",
            headers={"Retry-After": "2"},
            reason=type(exc).__name__,
        ) from exc
    head = head_revision()
    if revision != head:
        raise ServiceUnavailable(
            f"The schema is at revision {revision}, the code expects {head}.", reason="schema-not-at-head"
        )
    return {"status": "ready", "revision": revision or ""}
