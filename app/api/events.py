"""Control events: record (one, or a batch in one transaction), read, correct, retract, and their history."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Path, Request
from starlette.responses import Response

from app.api.auth import IngestKey, read_access
from app.api.caching import JSON, cached
from app.api.deps import ReadConnection, in_transaction
from app.errors import PayloadTooLarge
from app.schemas.events import EventBatch, EventCreate, EventPatch
from app.services import events as service

router = APIRouter(prefix="/v1/events", tags=["events"])

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
WRITE_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one", **PROBLEM},
    403: {"description": "The key lacks the ingest scope", **PROBLEM},
    409: {
        "description": "An external_id already recorded with other content, or two holders on one day",
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


def json_response(body: str | bytes, status: int, **headers: str) -> Response:
    return Response(body, status_code=status, media_type=JSON, headers=headers)


@router.post("", status_code=201, responses={200: {"description": "Already recorded"}, **WRITE_PROBLEMS})
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


@router.get(
    "/{event_id}",
    dependencies=[Depends(read_access)],
    responses={404: {"description": "No such event", **PROBLEM}},
)
async def get_event(request: Request, conn: ReadConnection, event_id: EventId) -> Response:
    """One event as it stands now (a retracted one shows when it was retracted)."""
    return cached(request, await service.event_json(conn, event_id))


@router.patch("/{event_id}", responses={404: {"description": "No such event", **PROBLEM}, **WRITE_PROBLEMS})
async def correct_event(request: Request, event_id: EventId, patch: EventPatch, key: IngestKey) -> Response:
    """Correct an event: the fields given replace the current ones; the previous version stays in its history."""

    async def work(conn: Any) -> str:
        await service.correct_event(conn, event_id, patch, key=key)
        return await service.event_json(conn, event_id)

    return json_response(await in_transaction(request.app.state.engine, work), 200)


@router.delete("/{event_id}", responses={404: {"description": "No such event", **PROBLEM}, **WRITE_PROBLEMS})
async def retract_event(request: Request, event_id: EventId, key: IngestKey) -> Response:
    """Retract an event: it no longer shapes who held the place, and stays in its history (nothing is erased)."""

    async def work(conn: Any) -> str:
        await service.retract_event(conn, event_id, key=key)
        return await service.event_json(conn, event_id)

    return json_response(await in_transaction(request.app.state.engine, work), 200)


@router.get(
    "/{event_id}/history",
    dependencies=[Depends(read_access)],
    responses={404: {"description": "No such event", **PROBLEM}},
)
async def event_history(request: Request, conn: ReadConnection, event_id: EventId) -> Response:
    """Every version of an event: what it said, when it was recorded, superseded or retracted, and by which key."""
    return cached(request, await service.history_json(conn, event_id))
