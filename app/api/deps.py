"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from app.api.auth import read_access
from app.db.reads import ReadConnection as Reads


async def read_connection(request: Request) -> AsyncConnection:
    """What reads run their statements on (app/db/reads.py): each statement checks out a pooled connection of
    the read engine while it runs, in autocommit mode. Not a `yield` dependency: it holds nothing to release,
    and FastAPI's handling of one cost more than the statement's own Python side."""
    return Reads(request.app.state.read_engine)


ReadConnection = Annotated[AsyncConnection, Depends(read_connection)]
# Every read route's dependency: reads follow TERRITORY_REQUIRE_READ_KEY; writes check their own key's scope.
READ = [Depends(read_access)]
