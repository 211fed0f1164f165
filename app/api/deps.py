"""Dependencies shared by the routers, and the transaction every write runs in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.errors import RETRYABLE, sqlstate

T = TypeVar("T")
logger = logging.getLogger("territory")
# Deadlocks and serialisation failures between concurrent writers are retried this many times before the
# client is told to retry (503 with Retry-After).
WRITE_ATTEMPTS = 4


async def read_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """A pooled connection in autocommit mode: reads need no transaction around them."""
    async with request.app.state.read_engine.connect() as connection:
        yield connection


ReadConnection = Annotated[AsyncConnection, Depends(read_connection)]


async def write_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction, committed when the route returns and rolled back if it raises.

    scope="function" (below) commits before the response is sent, so a client never sees a success that
    did not land."""
    async with request.app.state.engine.begin() as connection:
        yield connection


WriteConnection = Annotated[AsyncConnection, Depends(write_connection, scope="function")]


async def in_transaction(engine: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run `work` in one transaction, again from the start when the database reports a deadlock or a
    serialisation failure with a concurrent writer (the last failure propagates: a 503 to the client)."""
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            async with engine.begin() as connection:
                return await work(connection)
        except DBAPIError as exc:
            if sqlstate(exc) not in RETRYABLE or attempt == WRITE_ATTEMPTS:
                raise
            logger.info("write retried after %s (attempt %d)", sqlstate(exc), attempt)
            await asyncio.sleep(0.02 * attempt)
    raise AssertionError("unreachable")
