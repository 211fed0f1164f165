"""Reading what changed: the events list (in recording order, resumable at a position, or newest first) and the
live feed behind the Server-Sent Events stream. Both read one statement per page (app/db/queries/events.py).

A position is the id of an event's latest version. In recording order the list and the feed hand out only
versions no running transaction can precede, so a reader that resumes after the last position it received
misses nothing and gets nothing twice; an event corrected or retracted later shows again, at its new position.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.listen import Listener
from app.db.queries import events as q
from app.db.queries.references import ref_params, refuse, resolve
from app.errors import InvalidParameter

logger = logging.getLogger("territory")
CHANNEL = "control_event_version"  # the trigger on control_event_version notifies each new version here
START = ("0", 0)  # a cursor before every position: replay from the beginning


@dataclass(frozen=True)
class EventFilter:
    place: str | None = None  # a place reference: id, slug or any spelling
    actor: str | None = None  # an actor slug: the holder, the loser or a party
    from_date: date | None = None
    to_date: date | None = None


@dataclass(frozen=True)
class Since:
    position: int | None = None  # after this position (0: from the beginning)
    time: datetime | None = None  # versions recorded at or after this time


@dataclass(frozen=True)
class Item:
    position: int
    xact: str  # the writing transaction: with the position, the sort key of recording order
    occurred_on: date
    event_id: int
    change: str  # created | corrected | retracted
    body: str  # the item's JSON, one line


@dataclass(frozen=True)
class Page:
    items: list[Item]
    more: bool  # another page follows now
    pending: bool  # versions are committed but not yet safe to hand out (an older transaction still runs)


@lru_cache(maxsize=128)
def page_statement(**flags: bool) -> TextClause:
    return text(q.events_page_sql(**flags))


def page_query(
    filters: EventFilter,
    *,
    newest: bool,
    since: Since,
    after: tuple[Any, int] | None,
    limit: int,
    pending: bool = False,
) -> tuple[TextClause, dict[str, Any]]:
    """The statement and parameters of one page (one row more than `limit`, to know whether another follows)."""
    statement = page_statement(
        newest=newest,
        place=filters.place is not None,
        actor=filters.actor is not None,
        from_date=filters.from_date is not None,
        to_date=filters.to_date is not None,
        since_position=bool(since.position),
        since_time=since.time is not None,
        after=after is not None,
        pending=pending,
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
    if after is not None:
        key = "after_date" if newest else "after_xact"
        params |= {key: after[0], "after_id": after[1]}
    return statement, params


def page_of(rows: Sequence[Mapping[Any, Any]], limit: int) -> Page:
    items = [
        Item(r["position"], r["xact"], r["occurred_on"], r["event_id"], r["change"], r["item"])
        for r in rows
        if r["position"] is not None
    ]
    return Page(items[:limit], len(items) > limit, bool(rows[0]["pending"]))


async def events_page(
    conn: AsyncConnection,
    filters: EventFilter,
    *,
    newest: bool,
    since: Since,
    after: tuple[Any, int] | None,
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
) -> tuple[EventFilter, tuple[str, int] | None]:
    """Check a stream's filters and position before it starts (a problem can still be an HTTP answer then).

    Returns the filters with the place as its slug, and the cursor to resume after (None: from the head).
    `position_from` names the parameter the position came from, for the problem."""
    if filters.place is not None:
        filters = replace(
            filters, place=(await resolve(conn, "place", filters.place, location="query"))["slug"]
        )
    if filters.actor is not None:
        filters = replace(
            filters, actor=(await resolve(conn, "actor", filters.actor, location="query"))["slug"]
        )
    if position is None:
        return filters, None
    if position == 0:
        return filters, START
    row = (await conn.execute(q.POSITION, {"id": position})).one_or_none()
    if row is None:
        name, location = position_from
        raise InvalidParameter(name, f"no change has the position {position}", location=location)
    return filters, (row.xact, row.position)


async def follow(
    url: str,
    filters: EventFilter,
    *,
    after: tuple[str, int] | None,
    heartbeat: float,
    disconnected: Callable[[], Awaitable[bool]],
    batch: int = 200,
) -> AsyncIterator[Item | None]:
    """Changes as they are committed, on a dedicated connection: the ones after `after` first (None: only new
    ones), then the live ones. Yields None once listening, and after `heartbeat` seconds without a change.

    LISTEN starts before the first read, and every read continues from the last item yielded, so nothing is
    missed between the replay and the live part and nothing comes twice. A notification only wakes the reader:
    what it reads follows the same rule as the list (only versions no running transaction can precede), and
    while committed versions wait for an older transaction, it reads again every second.
    """
    try:
        listener = await Listener.open(url, CHANNEL)
    except Exception as exc:  # the answer has begun: end the stream, the client reconnects and resumes
        logger.warning("event stream could not listen: %s", exc)
        return
    try:
        if after is None:
            head = await listener.fetch(q.FEED_HEAD, {})
            after = (head[0]["xact"], head[0]["position"]) if head else START
        yield None
        last_write = time.monotonic()
        read = True
        while True:
            if read:
                statement, params = page_query(
                    filters, newest=False, since=Since(), after=after, limit=batch, pending=True
                )
                page = page_of(await listener.fetch(statement, params), batch)
                for item in page.items:
                    yield item
                    after = (item.xact, item.position)
                    last_write = time.monotonic()
                if page.more:
                    continue
            # Wake at least every second: to notice a client that left, to poll for pending versions, and for
            # the heartbeat when it is due.
            quiet_for = time.monotonic() - last_write
            notified = await listener.wait(max(0.0, min(1.0, heartbeat - quiet_for)))
            if await disconnected():
                return
            if time.monotonic() - last_write >= heartbeat:
                yield None
                last_write = time.monotonic()
            read = notified or page.pending
    except Exception as exc:  # the database went away: as above
        logger.warning("event stream ended: %s", exc)
    finally:
        await listener.close()
