"""Reading what changed: the events list (in recording order, resumable at a position, or newest first) and the
live feed behind the Server-Sent Events stream. Both read one statement per page (app/db/queries/events.py).

A position is given to each version when its transaction commits, in commit order (app/db/queries/events.py
says how), so a reader that resumes after the last position it received misses nothing and gets nothing twice,
and only Territory's own writers, committing, can hold it back; an event corrected or retracted later shows
again, at its new position.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import TextClause
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.listen import SharedListener, Subscription, plain_url
from app.db.queries import events as q
from app.db.queries.references import ref_params, refuse, resolve
from app.errors import InvalidParameter

logger = logging.getLogger("territory")
CHANNEL = "control_event_version"  # the trigger on control_event_version notifies each new version here
START = 0  # a position before every position: replay from the beginning
# Newest first, the cursor is the last item's (date, event id); in recording order, its position.
Cursor = tuple[date, int] | int


@dataclass(frozen=True)
class EventFilter:
    place: str | None = None  # a place reference: id, slug or any spelling
    actor: str | None = None  # an actor slug: the holder, the loser or a party
    from_date: date | None = None
    to_date: date | None = None
    # What the feed carries: "event", and the versioned tables whose changes it carries too (place, actor...).
    resources: tuple[str, ...] = ("event",)


@dataclass(frozen=True)
class Since:
    position: int | None = None  # after this position (0: from the beginning)
    time: datetime | None = None  # versions recorded at or after this time


@dataclass(frozen=True)
class Item:
    position: int
    occurred_on: date | None  # None for a change of another resource than an event
    event_id: int | None
    change: (
        str  # created | corrected | retracted (an event), created | corrected | deleted (another resource)
    )
    body: str  # the item's JSON, one line


@dataclass(frozen=True)
class Page:
    items: list[Item]
    more: bool  # another page follows now


def page_query(
    filters: EventFilter,
    *,
    newest: bool,
    since: Since,
    after: Cursor | None,
    limit: int,
) -> tuple[TextClause, dict[str, Any]]:
    """The statement and parameters of one page (one row more than `limit`, to know whether another follows)."""
    statement = q.events_page_statement(
        newest=newest,
        place=filters.place is not None,
        actor=filters.actor is not None,
        from_date=filters.from_date is not None,
        to_date=filters.to_date is not None,
        since_position=bool(since.position),
        since_time=since.time is not None,
        after=after is not None,
        resources=filters.resources,
    )
    params: dict[str, Any] = {
        "limit": limit + 1,
        "actor": filters.actor,
        "from": filters.from_date,
        "to": filters.to_date,
        "since_position": since.position,
        "since_time": since.time,
    }
    if filters.place is not None:
        params |= ref_params(filters.place)
    if isinstance(after, tuple):
        params |= {"after_date": after[0], "after_id": after[1]}
    elif after is not None:
        params["after_position"] = after
    return statement, params


def page_of(rows: Sequence[Mapping[Any, Any]], limit: int) -> Page:
    items = [
        Item(r["position"], r["occurred_on"], r["event_id"], r["change"], r["item"])
        for r in rows
        if r["position"] is not None
    ]
    return Page(items[:limit], len(items) > limit)


async def events_page(
    conn: AsyncConnection,
    filters: EventFilter,
    *,
    newest: bool,
    since: Since,
    after: Cursor | None,
    limit: int,
) -> Page:
    """One page of events: 404 for an unknown place (with suggestions) or actor, 400 for an unknown position."""
    statement, params = page_query(filters, newest=newest, since=since, after=after, limit=limit)
    rows = (await conn.execute(statement, params)).mappings().all()
    meta = rows[0]
    if filters.place is not None and meta["matches"] != 1:
        await refuse(conn, "place", filters.place, location="query")
    if filters.actor is not None and meta["actor_matches"] != 1:
        await refuse(conn, "actor", filters.actor, location="query")
    if not meta["since_found"]:
        raise InvalidParameter("since", f"no change has the position {since.position}")
    return page_of(rows, limit)


async def stream_start(
    conn: AsyncConnection,
    filters: EventFilter,
    position: int | None,
    *,
    position_from: tuple[str, str] = ("since", "query"),
) -> tuple[EventFilter, int | None]:
    """Check a stream's filters and position before it starts (a problem can still be an HTTP answer then).

    Returns the filters with the place as its slug, and the position to resume after (None: from the head).
    `position_from` names the parameter the position came from, for the problem."""
    if filters.place is not None:
        filters = replace(
            filters, place=(await resolve(conn, "place", filters.place, location="query"))["slug"]
        )
    if filters.actor is not None:
        filters = replace(
            filters, actor=(await resolve(conn, "actor", filters.actor, location="query"))["slug"]
        )
    if position is None or position == START:
        return filters, position
    if not await conn.scalar(q.POSITION_EXISTS, {"position": position}):
        name, location = position_from
        raise InvalidParameter(name, f"no change has the position {position}", location=location)
    return filters, position


def shared_listener(state: Any) -> SharedListener:
    """The process's listening connection (app.state.listener), made on first use: on the primary (NOTIFY is not
    delivered on a standby), directly (TERRITORY_LISTEN_DATABASE_URL) when DATABASE_URL goes through PgBouncer."""
    listener: SharedListener | None = getattr(state, "listener", None)
    if listener is None:
        listener = SharedListener(
            state.settings.listen_database_url or plain_url(state.engine.url),
            CHANNEL,
            max_subscribers=state.settings.max_streams,
        )
        state.listener = listener
    return listener


async def read_rows(engine: AsyncEngine, statement: TextClause, params: Mapping[str, Any]) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(statement, params)).mappings().all())


async def follow(
    engine: AsyncEngine,
    subscription: Subscription,
    filters: EventFilter,
    *,
    after: int | None,
    heartbeat: float,
    disconnected: Callable[[], Awaitable[bool]],
    batch: int = 200,
) -> AsyncIterator[Item | None]:
    """Changes as they are committed: the ones after position `after` first (None: only new ones), then the
    live ones. Yields None once listening, and after `heartbeat` seconds without a change.

    The subscription listens before the first read, and every read continues from the last position yielded, so
    nothing is missed between the replay and the live part and nothing comes twice. A notification only wakes
    the reader, and what it reads (a short checkout of the read pool) follows the list's order. The stream ends
    when the listening connection is lost or a read fails: the client reconnects with Last-Event-ID, and is
    answered 503 until the stream can listen again.
    """
    try:
        if after is None:
            subscription.clear()
            head = await read_rows(engine, q.FEED_HEAD, {})
            after = head[0]["position"] or START
        yield None
        last_write = time.monotonic()
        read = True
        while True:
            retry = False
            if read:
                statement, params = page_query(filters, newest=False, since=Since(), after=after, limit=batch)
                subscription.clear()
                try:
                    page = page_of(await read_rows(engine, statement, params), batch)
                except PoolTimeout:  # every read connection is busy: not an outage, read again in a second
                    page, retry = Page([], False), True
                for item in page.items:
                    yield item
                    after = item.position
                    last_write = time.monotonic()
                if page.more:
                    continue
            # Wake at least every second: to notice a client that left, and for the heartbeat when it is due.
            quiet_for = time.monotonic() - last_write
            notified = await subscription.wait(max(0.0, min(1.0, heartbeat - quiet_for)))
            if subscription.lost or await disconnected():
                return
            if time.monotonic() - last_write >= heartbeat:
                yield None
                last_write = time.monotonic()
            read = notified or retry
    except Exception as exc:  # the answer has begun: end the stream, the client reconnects and resumes
        logger.warning("event stream ended: %s", exc)
    finally:
        subscription.close()
