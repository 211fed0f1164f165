"""Dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from app.api.auth import read_access


async def read_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """A pooled connection in autocommit mode: reads need no transaction around them."""
    async with request.app.state.read_engine.connect() as connection:
        yield connection


ReadConnection = Annotated[AsyncConnection, Depends(read_connection)]
# Every read route's dependency: reads follow TERRITORY_REQUIRE_READ_KEY; writes check their own key's scope.
READ = [Depends(read_access)]
