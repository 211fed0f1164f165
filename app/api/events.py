"""Control events: record (one, or a batch in one transaction), read, correct, retract, and their history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response, StreamingResponse

from app.api.auth import IngestKey
from app.api.caching import cached
from app.api.deps import ON_PRIMARY, ReadConnection, read_connection
from app.api.exports import export_response
from app.api.filters import link_to_next
from app.api.formats import EXPORT_CONTENT, JSON, NOT_ACCEPTABLE, FormatQuery, export_format
from app.api.params import DATE, decode_cursor, parse_date, parse_position, parse_since
from app.api.responses import PROBLEM, json_response
from app.db.queries.as_of import VERSIONED
from app.db.queries.exports import event_rows
from app.db.queries.filters import Page
from app.db.queries.pages import page_body
from app.db.queries.references import resolve
from app.db.transaction import in_transaction
from app.errors import InvalidParameter, PayloadTooLarge
from app.schemas.events import (
    EventBatch,
    EventBatchReport,
    EventCreate,
    EventDetail,
    EventHistory,
    EventPage,
    EventPatch,
)
from app.services import events as service
from app.services import feed

router = APIRouter(prefix="/v1/events", tags=["events"])

WRITE_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one", **PROBLEM},
    403: {"description": "The key lacks the ingest scope", **PROBLEM},
    409: {
        "description": "An external_id already recorded with other content, or one source giving two holders on one day",
        **PROBLEM,
    },
    413: {"description": "The body or the batch is too large", **PROBLEM},
    422: {
        "description": "Invalid rows, or unknown places, actors or sources (each listed by index)",
        **PROBLEM,
    },
    429: {"description": "Too many requests for this key; see Retry-After", **PROBLEM},
    503: {"description": "A concurrent write could not be serialised; retry (see Retry-After)", **PROBLEM},
}
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=120,
        description="Identifies the request for retries: events without an external_id take theirs from it.",
    ),
]
EventId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The event's id")]


@router.post(
    "",
    response_model=EventDetail,
    status_code=201,
    responses={200: {"description": "Already recorded"}, **WRITE_PROBLEMS},
)
async def create_event(
    request: Request, event: EventCreate, key: IngestKey, idempotency_key: IdempotencyKey = None
) -> Response:
    """Record one control event; sending it again creates nothing and answers 200 with the existing event."""

    async def work(conn: Any) -> tuple[service.Outcome, str]:
        outcome = await service.create_events(
            conn, [event], key=key, idempotency_key=idempotency_key, single=True
        )
        return outcome, await service.event_json(conn, outcome.items[0]["id"])

    outcome, body = await in_transaction(request.app.state.engine, work)
    item = outcome.items[0]
    return json_response(
        body, 201 if item["result"] == "created" else 200, Location=f"/v1/events/{item['id']}"
    )


@router.post(
    "/batch",
    response_model=EventBatchReport,
    status_code=201,
    responses={200: {"description": "Every event was already recorded"}, **WRITE_PROBLEMS},
)
async def create_events(
    request: Request, batch: EventBatch, key: IngestKey, idempotency_key: IdempotencyKey = None
) -> Response:
    """Record up to TERRITORY_MAX_BATCH events (10,000 by default) in one transaction: all of them, or none."""
    limit = request.app.state.settings.max_batch
    if len(batch.events) > limit:
        raise PayloadTooLarge(
            f"events: {len(batch.events)} in one batch; the most is {limit}.", max_batch=limit
        )
    outcome = await in_transaction(
        request.app.state.engine,
        lambda conn: service.create_events(conn, batch.events, key=key, idempotency_key=idempotency_key),
    )
    body = orjson.dumps({"created": outcome.created, "existing": outcome.existing, "items": outcome.items})
    return json_response(body, 201 if outcome.created else 200)


READ_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A parameter is invalid, or names no position this API gave out", **PROBLEM},
    404: {"description": "No place or actor has that name; the problem lists the closest", **PROBLEM},
    409: {"description": "The place name is shared by several places; the problem lists them", **PROBLEM},
}
PlaceFilter = Annotated[
    str | None,
    Query(
        description="Only events of this place: its id, slug or any spelling",
        openapi_examples={"spelling": {"value": "Tadmur"}},
    ),
]
ActorFilter = Annotated[
    str | None,
    Query(
        description="Only events naming this actor (slug) as holder, loser or party",
        openapi_examples={"IS": {"value": "islamic-state"}},
    ),
]
ResourcesQuery = Annotated[
    str | None,
    Query(
        description="What the feed carries, comma-separated: `event` (the default) and the resources whose "
        "changes it carries too (" + ", ".join(VERSIONED) + "), or `all`. Another resource's item has "
        "`resource`, `id`, `version`, `change`, `recorded_from`, `position` and the row as `data`; it takes "
        "no place, actor or date filter and only the recording order.",
        openapi_examples={"all": {"value": "all"}, "memberships": {"value": "event,coalition_membership"}},
    ),
]
# A connection released before the stream starts: a stream must not hold a pooled connection while it lasts.
BriefReadConnection = Annotated[AsyncConnection, Depends(read_connection, scope="function")]


def event_filter(
    place: str | None,
    actor: str | None,
    start: str | None,
    end: str | None,
    resources: str | None = None,
    *,
    order: str = "recorded",
) -> feed.EventFilter:
    for name, value in (("place", place), ("actor", actor)):
        if value is not None and not value.strip():
            raise InvalidParameter(name, "must not be empty")
    first = parse_date("from", start) if start else None
    last = parse_date("to", end) if end else None
    if first and last and first > last:
        raise InvalidParameter("from", f"{first} is after to ({last})")
    carried = parse_resources(resources)
    if carried != ("event",):
        if order != "recorded":
            raise InvalidParameter(
                "resources", "other resources than event are listed in recording order only"
            )
        if place or actor or first or last:
            raise InvalidParameter(
                "resources", "other resources than event take no place, actor or date filter"
            )
    return feed.EventFilter(place.strip() if place else None, actor, first, last, carried)


def parse_resources(value: str | None) -> tuple[str, ...]:
    """`event` and the versioned tables, in the feed's order of them; `all` is every one."""
    if value is None:
        return ("event",)
    names = {name.strip() for name in value.split(",") if name.strip()}
    known = ("event", *VERSIONED)
    if names == {"all"}:
        return known
    if not names or (unknown := names - set(known)):
        wrong = ", ".join(sorted(unknown)) if names else "nothing"
        raise InvalidParameter("resources", f"{wrong}: not one of all, {', '.join(known)}")
    return tuple(name for name in known if name in names)


def events_cursor(value: str | None, order: str) -> feed.Cursor | None:
    """The keyset of the last item of the previous page, for this order: [newest, date, id] or [recorded,
    position]."""
    try:
        if order == "newest":
            key = decode_cursor(value, str, str, int)
            if key is None:
                return None
            if key[0] != order:
                raise ValueError
            return date.fromisoformat(key[1]), key[2]
        key = decode_cursor(value, str, int)
        if key is None:
            return None
        if key[0] != order:
            raise ValueError
        return int(key[1])
    except (ValueError, InvalidParameter):
        raise InvalidParameter("cursor", f"is not a cursor this API gave out for order={order}") from None


@router.get(
    "",
    response_model=EventPage,
    responses={**READ_PROBLEMS, **NOT_ACCEPTABLE, 200: {"content": EXPORT_CONTENT}},
)
async def list_events(
    request: Request,
    conn: ReadConnection,
    place: PlaceFilter = None,
    actor: ActorFilter = None,
    start: Annotated[
        str | None, DATE, Query(alias="from", description="Events on or after this date, YYYY-MM-DD")
    ] = None,
    to: Annotated[str | None, DATE, Query(description="Events on or before this date, YYYY-MM-DD")] = None,
    since: Annotated[
        str | None,
        Query(
            description="A position from a previous answer (changes after it), or an ISO 8601 timestamp "
            "(changes recorded at or after it)",
            openapi_examples={"position": {"value": "1250"}, "time": {"value": "2026-11-25T12:00:00Z"}},
        ),
    ] = None,
    order: Annotated[
        Literal["recorded", "newest"],
        Query(description="recorded: by position, for scripts; newest: by event date, latest first"),
    ] = "recorded",
    limit: Annotated[int, Query(ge=1, le=1000, description="Items per page")] = 100,
    cursor: Annotated[str | None, Query(description="From the `next` link of the previous page")] = None,
    resources: ResourcesQuery = None,
    f: FormatQuery = None,
) -> Response:
    """Events with their latest change: in recording order with a resumable position, or newest first.

    An export (`f`) holds every recorded event the filters match, in id order, unpaged."""
    filters = event_filter(place, actor, start, to, resources, order=order)
    if media_type := export_format(request, f, {"json": JSON}):
        if filters.resources != ("event",):
            raise InvalidParameter("resources", "an export holds events only")
        return await export_events(request, conn, media_type, filters, since)
    position, moment = parse_since(since)
    after = events_cursor(cursor, order)
    page = await feed.events_page(
        conn,
        filters,
        newest=order == "newest",
        since=feed.Since(position, moment),
        after=after,
        limit=limit,
    )
    next_key = None
    if page.more:
        last = page.items[-1]
        next_key = (
            [order, last.occurred_on.isoformat(), last.event_id]
            if order == "newest" and last.occurred_on is not None  # newest first lists events only
            else [order, last.position]
        )
    # Where a script stands after this page: resume with since=<position> (recording order only).
    latest = None
    if order == "recorded":
        latest = page.items[-1].position if page.items else (after if isinstance(after, int) else position)
    body = page_body(
        [item.body for item in page.items],
        next_key,
        Page(limit=limit, link=link_to_next(request)),
        tail={"position": latest},
    )
    return cached(request, body, max_age=request.app.state.settings.cache_max_age_feed)


async def export_events(
    request: Request, conn: AsyncConnection, media_type: str, filters: feed.EventFilter, since: str | None
) -> Response:
    if since is not None:
        raise InvalidParameter(
            "since", "follows the feed's pages; an export holds every event (use from, to)"
        )
    place_id = None
    if filters.place is not None:
        place_id = (await resolve(conn, "place", filters.place, field="place", location="query"))["id"]
    actor = None
    if filters.actor is not None:
        actor = (await resolve(conn, "actor", filters.actor, field="actor", location="query"))["slug"]
    rows = event_rows(place_id=place_id, actor=actor, start=filters.from_date, end=filters.to_date)
    return await export_response(request, media_type, [rows], "events")


@router.get(
    "/stream",
    # Its positions come from the primary's notifications (a standby delivers none): it resumes there too.
    dependencies=[ON_PRIMARY],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **READ_PROBLEMS},
)
async def stream_events(
    request: Request,
    conn: BriefReadConnection,
    place: PlaceFilter = None,
    actor: ActorFilter = None,
    since: Annotated[
        str | None, Query(description="Replay the changes after this position first (0: all of them)")
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="The last position received; wins over `since`"),
    ] = None,
    resources: ResourcesQuery = None,
) -> StreamingResponse:
    """Server-Sent Events of events created, corrected and retracted, as they are committed; resumable."""
    filters = event_filter(place, actor, None, None, resources)
    # A reconnecting EventSource repeats the URL (and its since=) and adds Last-Event-ID: the header wins.
    origin = ("Last-Event-ID", "header") if last_event_id else ("since", "query")
    position = parse_position(*origin[:1], last_event_id or since, location=origin[1])
    filters, after = await feed.stream_start(conn, filters, position, position_from=origin)
    settings = request.app.state.settings
    # Listening before the answer starts: a stream that cannot listen (or one over the cap) is a 503, not a 200
    # that ends at once.
    subscription = await feed.shared_listener(request.app.state).subscribe()
    changes = feed.follow(
        request.app.state.read_engine,
        subscription,
        filters,
        after=after,
        heartbeat=settings.feed_heartbeat_seconds,
        disconnected=request.is_disconnected,
    )
    return StreamingResponse(
        server_sent_events(changes),
        media_type="text/event-stream",
        # No proxy buffering (nginx) or transformation: each message must reach the client when it is sent.
        headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"},
    )


async def server_sent_events(changes: AsyncIterator[feed.Item | None]) -> AsyncIterator[bytes]:
    """SSE framing: `id` the position, `event` the change, `data` the event (one line of JSON); a comment line
    when there is nothing to say. Clients reconnect after 2 s, sending the last id as Last-Event-ID."""
    yield b"retry: 2000\n\n"
    async for item in changes:
        if item is None:
            yield b": keep-alive\n\n"
        else:
            yield f"id: {item.position}\nevent: {item.change}\ndata: {item.body}\n\n".encode()


@router.get(
    "/{event_id}",
    response_model=EventDetail,
    responses={404: {"description": "No such event", **PROBLEM}},
)
async def get_event(request: Request, conn: ReadConnection, event_id: EventId) -> Response:
    """One event as it stands now (a retracted one shows when it was retracted)."""
    return cached(request, await service.event_json(conn, event_id))


@router.patch(
    "/{event_id}",
    response_model=EventDetail,
    responses={404: {"description": "No such event", **PROBLEM}, **WRITE_PROBLEMS},
)
async def correct_event(request: Request, event_id: EventId, patch: EventPatch, key: IngestKey) -> Response:
    """Correct an event: the fields given replace the current ones; the previous version stays in its history."""

    async def work(conn: Any) -> str:
        await service.correct_event(conn, event_id, patch, key=key)
        return await service.event_json(conn, event_id)

    return json_response(await in_transaction(request.app.state.engine, work), 200)


@router.delete(
    "/{event_id}",
    response_model=EventDetail,
    responses={404: {"description": "No such event", **PROBLEM}, **WRITE_PROBLEMS},
)
async def retract_event(request: Request, event_id: EventId, key: IngestKey) -> Response:
    """Retract an event: it no longer shapes who held the place, and stays in its history (nothing is erased)."""

    async def work(conn: Any) -> str:
        await service.retract_event(conn, event_id, key=key)
        return await service.event_json(conn, event_id)

    return json_response(await in_transaction(request.app.state.engine, work), 200)


@router.get(
    "/{event_id}/history",
    response_model=EventHistory,
    responses={404: {"description": "No such event", **PROBLEM}},
)
async def get_event_history(request: Request, conn: ReadConnection, event_id: EventId) -> Response:
    """Every version of an event: what it said, when it was recorded, superseded or retracted, and by which key."""
    return cached(request, await service.history_json(conn, event_id))
