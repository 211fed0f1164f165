"""Answers too big to build whole, sent as they are read: the whole map (`/v1/control` without a bbox) and a page
of changes without a bbox (up to 5,000 places, over any window). Their size grows with the dataset (100,000
places: 53 MB), so the app holds one batch of rows at a time and the first bytes leave after the first batch.

How, the way exports read (app/services/exports.py): one connection held for the stream's life, in a read-only
REPEATABLE READ transaction with the exports' timeouts (TERRITORY_EXPORT_TIMEOUT_SECONDS instead of the read
statement timeout: the whole map legitimately runs for seconds, and its transaction waits on a slow client), rows
from a server-side cursor TERRITORY_STREAM_BATCH_ROWS at a time. PostgreSQL builds each feature or item; Python
writes the envelope around them, the very bytes the answer built whole has (`queries.control.feature_collection`,
`queries.pages.page_chunks`). The connection is of the database the read router chose (a replica, or the primary
for a read naming a Territory-LSN it has not replayed): the read dependency's.

Before the first byte: the parameters are checked (400), the first batch is read (a reference naming nothing is a
404, a failing statement a problem), and If-None-Match is answered. A HEAD (a GET for the routes, marked by the
request guard: app/api/limits.py) stops there: GET's status and headers, no body, the rest never read (`unsent`);
the exports and the event stream answer HEAD the same way. The ETag is the data version's
(app/api/caching.py), known before the body: the version the process holds, or, when it holds none (its
listening connection is down, or the response cache is off), the version the stream's own snapshot sees, which is
exactly the version of the rows it reads. A 304 then costs one short transaction, not the read.

After the first byte nothing can be answered again: a statement that fails mid-stream (a replica that goes away,
the timeout) is logged and the connection is cut before the body's end (no final chunk, no closing bracket), so a
client sees a truncated answer, never a short valid one; a replica failing then is marked down for the next reads.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AsyncExitStack, aclosing
from datetime import datetime

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response, StreamingResponse

from app.api.caching import cache_headers, etag_matches, snapshot_etag, version_etag
from app.api.limits import asked_head
from app.db.queries.data_version import version_on
from app.db.reads import ReadConnection
from app.services.exports import closing, open_snapshot

logger = logging.getLogger("territory")

Chunks = Callable[[AsyncConnection], Awaitable[AsyncGenerator[bytes, None]]]


async def streamed(
    request: Request, conn: AsyncConnection, chunks_of: Chunks, *, media_type: str, as_of: datetime | None
) -> Response:
    """The answer `chunks_of` reads on a snapshot of `conn`'s database, streamed, with its ETag (or 304)."""
    settings = request.app.state.settings
    headers = cache_headers(settings, as_of=as_of)
    if_none_match = request.headers.get("if-none-match")
    head = asked_head(request.scope)
    etag = version_etag(request, keep=not head)  # HEAD's empty body must not be kept as GET's answer
    if etag is not None and if_none_match and etag_matches(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag, **headers})
    stack = AsyncExitStack()
    try:
        snapshot = await snapshot_of(conn, stack, settings.export_timeout_seconds)
        if etag is None:
            etag = snapshot_etag(request, await version_on(snapshot))
            if etag is not None and if_none_match and etag_matches(if_none_match, etag):
                await stack.aclose()
                return Response(status_code=304, headers={"ETag": etag, **headers})
        chunks = await chunks_of(snapshot)
    except BaseException as error:
        await stack.aclose()
        if isinstance(error, Exception):
            failed(conn, error)  # a replica that failed: marked down, the read answered again elsewhere
        raise
    if etag is not None:
        headers["ETag"] = etag
    body = closing(cut_off_on_error(chunks, request.url.path, lambda error: failed(conn, error)), stack)
    if head:
        await unsent(body)
        return head_answer(media_type, headers)
    return StreamingResponse(body, media_type=media_type, headers=headers)


async def unsent(body: AsyncGenerator[bytes, None]) -> None:
    """Close a body that HEAD does not send once its first chunk is made: closing a generator that has not started
    runs none of its code, so only a started one closes in turn what it reads (its cursor, snapshot, file). The
    whole map's and the changes' first chunk is their opening bytes (the first batch was read already); an
    export's, its first batch."""
    async with aclosing(body):
        with contextlib.suppress(StopAsyncIteration):
            await anext(body)


def head_answer(media_type: str, headers: dict[str, str]) -> StreamingResponse:
    """HEAD's answer to a streamed GET: the same status and headers (no Content-Length, which GET's chunked answer
    has none of either; gzip's Content-Encoding and ETag as GET's), and no body."""
    return StreamingResponse(no_body(), media_type=media_type, headers=headers)


async def no_body() -> AsyncGenerator[bytes, None]:
    return
    yield b""  # an async generator that yields nothing


def failed(conn: AsyncConnection, error: Exception) -> None:
    """Tell the read connection's database routing (app/api/deps.py) that a statement failed on it."""
    on_failure = getattr(conn, "on_failure", None)
    if on_failure is not None:
        on_failure(error)


async def snapshot_of(conn: AsyncConnection, stack: AsyncExitStack, timeout: float) -> AsyncConnection:
    """A connection of `conn`'s database in a snapshot for the stream's life, closed with `stack`. A read
    connection pinned to a started one (the tests', inside the transaction they roll back) reads there."""
    if isinstance(conn, ReadConnection) and conn.sync_connection is not None:
        return conn
    return await open_snapshot(conn.engine, stack, timeout)


async def cut_off_on_error(
    chunks: AsyncGenerator[bytes, None], path: str, on_failure: Callable[[Exception], None]
) -> AsyncGenerator[bytes, None]:
    """The chunks; an error after the first is logged and raised on, so the server cuts the connection. Closed
    (the client left), it closes them, and so the cursor, before `closing` releases the connection."""
    sent = 0
    try:
        async with aclosing(chunks):
            async for chunk in chunks:
                yield chunk
                sent += len(chunk)
    except Exception as error:
        logger.exception("%s failed after %d bytes were sent: the connection is cut", path, sent)
        on_failure(error)  # a replica that failed is marked down for the next reads
        raise
