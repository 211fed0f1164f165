"""Rows read through a server-side cursor a batch at a time: exports (app/services/exports.py), the whole map and
a wide page of changes (app/api/streams.py) are sent as they are read, so the app holds one batch at a time."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from typing import Any

from sqlalchemy import Row, TextClause
from sqlalchemy.ext.asyncio import AsyncConnection

Batches = AsyncGenerator[Sequence[Row[Any]], None]


async def stream(
    conn: AsyncConnection, statement: TextClause, params: dict[str, Any], *, batch: int
) -> Batches:
    """The statement's rows, `batch` at a time (TERRITORY_STREAM_BATCH_ROWS), from a server-side cursor (the
    connection must be in a transaction: PostgreSQL keeps a cursor only inside one)."""
    result = await conn.stream(statement.execution_options(yield_per=batch), params)
    async for rows in result.partitions(batch):
        yield rows


async def primed(batches: Batches) -> tuple[Sequence[Row[Any]], Batches]:
    """The first batch read now (the statement has run: its errors, and what its first row says, come before
    any byte is sent), and all the batches, that one first. The batches come started, so closing them before
    their first batch is taken (a HEAD, a 404 on the first row) still closes `batches` and its cursor."""

    async def again() -> Batches:
        async with aclosing(batches):
            first: Sequence[Row[Any]] = ()
            try:
                # Not anext's default: CPython 3.11 fails it (SystemError) on this generator when it has no row.
                first = await anext(batches)
            except StopAsyncIteration:
                pass
            yield first  # taken by primed() below
            yield first
            async for rows in batches:
                yield rows

    started = again()
    return await anext(started), started
