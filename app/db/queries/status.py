"""What the health check and `territory up` ask of the database itself."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

PING = text("SELECT 1")
HAS_PLACES = text("SELECT EXISTS (SELECT 1 FROM place)")


async def ping(conn: AsyncConnection) -> None:
    """A round trip: the connection is usable."""
    await conn.execute(PING)


async def is_seeded(conn: AsyncConnection) -> bool:
    """Whether the database holds any place yet (a new database is seeded, a used one is left as it is)."""
    return bool(await conn.scalar(HAS_PLACES))
