"""The transaction every write runs in, retried when PostgreSQL reports a conflict with a concurrent writer.

The API's writes, the CLI's ingestion and the seed share it, so it lives in the database layer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.errors import RETRYABLE, sqlstate

T = TypeVar("T")
logger = logging.getLogger("territory")
# Deadlocks and serialisation failures between concurrent writers are retried this many times before the
# client is told to retry (503 with Retry-After).
WRITE_ATTEMPTS = 4


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
