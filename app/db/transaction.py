"""The transaction every write runs in, retried when PostgreSQL reports a conflict with a concurrent writer.

The API's writes, the CLI's ingestion and the seed share it, so it lives in the database layer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.queries.replication import commit_position
from app.errors import RETRYABLE, sqlstate

T = TypeVar("T")
logger = logging.getLogger("territory")
# Deadlocks and serialisation failures between concurrent writers are retried this many times before the
# client is told to retry (503 with Retry-After).
WRITE_ATTEMPTS = 4


@dataclass
class CommitPosition:
    """Where the last write of a request committed in the WAL, for its answer (app/api/replication.py): a read
    that sends it back is served by a database that has replayed that far."""

    lsn: int | None = None


# Set by whoever wants the position (the API, for each request); the CLI and the seed do not ask for it.
COMMIT_POSITION: ContextVar[CommitPosition | None] = ContextVar("commit_position", default=None)


async def in_transaction(engine: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run `work` in one transaction, again from the start when the database reports a deadlock or a
    serialisation failure with a concurrent writer (the last failure propagates: a 503 to the client)."""
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            async with engine.connect() as connection:
                async with connection.begin():
                    result = await work(connection)
                await note_commit_position(connection)
                return result
        except DBAPIError as exc:
            if sqlstate(exc) not in RETRYABLE or attempt == WRITE_ATTEMPTS:
                raise
            logger.info("write retried after %s (attempt %d)", sqlstate(exc), attempt)
            await asyncio.sleep(0.02 * attempt)
    raise AssertionError("unreachable")


async def note_commit_position(connection: AsyncConnection) -> None:
    """After the commit, on the same connection (one round trip, outside any transaction): never raises, the
    write is stored whatever happens here; its answer then has no position, and a read is not held to one."""
    position = COMMIT_POSITION.get()
    if position is None:
        return
    try:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        position.lsn = await commit_position(connection)
    except Exception:
        logger.warning("the WAL position of a committed write could not be read", exc_info=True)
