"""Recording control events: idempotent on external_id, all-or-nothing per request, corrections and retractions
that keep every earlier version.

A write is one transaction: resolve every reference (one statement per kind of reference), insert the new events,
compare the ones already present, link sources, record versions, then check the day rule on the touched places
(one source, one holder a day; different sources may disagree).
The periods are recomputed by the database's trigger inside the same transaction; the trigger locks the touched
places, so the day rule is checked after any concurrent writer of the same place has committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries import events as q
from app.db.queries.references import Kind, References
from app.errors import Conflict, NotFound, Unprocessable
from app.schemas.events import EventCreate, EventFields, EventPatch
from app.services.gazetteer import locate
from app.services.keys import ApiKey, Recorder


@dataclass
class Outcome:
    """What became of each event of a request, in request order."""

    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def created(self) -> int:
        return sum(1 for item in self.items if item["result"] == "created")

    @property
    def corrected(self) -> int:
        return sum(1 for item in self.items if item["result"] == "corrected")

    @property
    def existing(self) -> int:
        return len(self.items) - self.created - self.corrected


def event_references(events: Sequence[EventFields]) -> dict[Kind, set[str]]:
    """Every reference the events make, by kind, to resolve in one statement per kind."""
    refs: dict[Kind, set[str]] = {"place": set(), "actor": set(), "source": set()}
    for e in events:
        refs["place"].add(e.place)
        refs["actor"].update(r for r in (e.actor, e.loses, *e.parties) if r)
        refs["source"].update(e.sources)
    return refs


def event_row(e: EventFields, refs: References, index: int | None) -> dict[str, Any]:
    """The stored columns of an event, its references resolved (an unknown one is collected in `refs.problems`
    and left None); the holder of a contested place is one of its parties. The API and the seed both write
    events through this."""
    actor_id = refs.id("actor", e.actor, field="actor", index=index)
    parties = {refs.id("actor", p, field="parties", index=index) for p in e.parties}
    if e.status == "contested" and actor_id is not None:
        parties.add(actor_id)
    sources = {refs.id("source", s, field="sources", index=index) for s in e.sources}
    return {
        "place_id": refs.id("place", e.place, field="place", index=index),
        "occurred_on": e.date,
        "precision": e.precision,
        "seq": e.seq,
        "kind": e.kind,
        "actor_id": actor_id,
        "losing_actor_id": refs.id("actor", e.loses, field="loses", index=index),
        "status": e.status,
        "party_ids": sorted(p for p in parties if p is not None),
        "confidence": e.confidence,
        "notes": e.notes,
        "source_ids": sorted(s for s in sources if s is not None),
    }


def derived_external_id(key: Recorder, idempotency_key: str, index: int | None) -> str:
    """An event without an external_id takes one from the request's Idempotency-Key (per API key)."""
    suffix = "" if index is None else f"#{index}"
    return f"idem:{key.prefix}:{idempotency_key}{suffix}"[:200]


async def create_events(
    conn: AsyncConnection,
    events: list[EventCreate],
    *,
    key: Recorder,
    idempotency_key: str | None = None,
    single: bool = False,
    correct: bool = False,
) -> Outcome:
    """Record events: new ones are created, ones already recorded with the same content are reported as
    existing, anything else (unknown references, the same external_id with other content, one source giving
    two holders on one day) rejects the whole request. With `correct` (an importer re-reading its source), an
    event recorded with other content, or retracted, is corrected to this content instead (`corrected`), its
    history kept. A located place (an event's `location`) is resolved by the gazetteer first."""
    events, located = await locate(conn, events)
    errors: list[dict[str, Any]] = []
    external_ids: list[str] = []
    for index, e in enumerate(events):
        if e.external_id:
            external_ids.append(e.external_id)
        elif idempotency_key:
            external_ids.append(derived_external_id(key, idempotency_key, None if single else index))
        else:
            external_ids.append("")
            errors.append(
                {
                    "index": index,
                    "field": "external_id",
                    "reason": "is required unless the request carries an Idempotency-Key header",
                }
            )

    refs = await References(conn).load(event_references(list(events)))
    rows = []
    for index, e in enumerate(events):
        rows.append({"index": index, "external_id": external_ids[index], **event_row(e, refs, index)})
    errors += refs.problems

    first_of: dict[str, dict[str, Any]] = {}
    for row in rows:
        earlier = first_of.setdefault(row["external_id"], row)
        if earlier is not row and content(earlier) != content(row) and row["external_id"]:
            errors.append(
                {
                    "index": row["index"],
                    "field": "external_id",
                    "reason": f"'{row['external_id']}' is also row {earlier['index']}, with other content",
                }
            )
    if errors:
        raise Unprocessable(problem_summary(errors, len(events)), errors=sorted(errors, key=error_order))

    # Unique rows in external_id order: concurrent writers then take the unique-index locks in the same order,
    # so two overlapping batches wait for each other instead of deadlocking.
    unique_rows = sorted(first_of.values(), key=lambda r: r["external_id"])
    payload = orjson.dumps(unique_rows).decode()
    inserted = {
        r.external_id: r.id for r in await conn.execute(q.INSERT_EVENTS, {"rows": payload, "key_id": key.id})
    }
    await conn.execute(q.LINK_SOURCES, {"rows": payload, "ids": list(inserted.values())})

    present = [r for r in unique_rows if r["external_id"] not in inserted]
    stored = {}
    if present:
        found = await conn.execute(q.STORED_CONTENT, {"external_ids": [r["external_id"] for r in present]})
        stored = {r.external_id: r for r in found}
    conflicts = []
    corrected: dict[str, int] = {}
    for row in present:
        old = stored[row["external_id"]]
        if correct and (old.retracted or content(row) != content(dict(old.content))):
            corrected[row["external_id"]] = old.id
        elif content(row) != content(dict(old.content)):
            conflicts.append(
                {
                    "index": row["index"],
                    "field": "external_id",
                    "reason": f"'{row['external_id']}' is already recorded (event {old.id}) with other content: "
                    f"correct it with PATCH /v1/events/{old.id}",
                    "id": old.id,
                    "differs": sorted(k for k, v in content(row).items() if dict(old.content).get(k) != v),
                }
            )
    if conflicts:
        raise Conflict(problem_summary(conflicts, len(events)), errors=conflicts)

    if corrected:
        changed = {"rows": payload, "ids": list(corrected.values())}
        await conn.execute(q.UPDATE_EVENTS, {**changed, "key_id": key.id})
        await conn.execute(q.REPLACE_SOURCES_OF, changed)
    if written := [*inserted.values(), *corrected.values()]:
        await conn.execute(q.RECORD_VERSIONS, {"ids": written, "key_id": key.id})
        await check_one_holder_a_day(conn, written, {r["external_id"]: r["index"] for r in rows})

    outcome = Outcome()
    for row in rows:
        external_id = row["external_id"]
        first = first_of[external_id] is row
        if external_id in inserted and first:
            event_id, result = inserted[external_id], "created"
        elif external_id in corrected and first:
            event_id, result = corrected[external_id], "corrected"
        else:
            event_id, result = inserted.get(external_id) or stored[external_id].id, "existing"
        item: dict[str, Any] = {
            "index": row["index"],
            "id": event_id,
            "external_id": external_id,
            "result": result,
        }
        if row["index"] in located:
            item["place"] = located[row["index"]]
        outcome.items.append(item)
    return outcome


def content(row: dict[str, Any]) -> dict[str, Any]:
    """An event's content, comparable with the stored one (JSON: the date as text)."""
    return {k: v.isoformat() if isinstance(v := row.get(k), date) else v for k in q.CONTENT_FIELDS}


def error_order(error: dict[str, Any]) -> tuple[int, str]:
    return error.get("index", -1), error.get("field", "")


def problem_summary(errors: list[dict[str, Any]], total: int) -> str:
    rows = sorted({e["index"] for e in errors if "index" in e})
    head = "; ".join(
        (f"row {e['index']}: " if "index" in e else "") + f"{e['field']}: {e['reason']}"
        for e in sorted(errors, key=error_order)[:5]
    )
    more = f" (and {len(errors) - 5} more problems)" if len(errors) > 5 else ""
    which = (
        f"{len(rows)} of {total} events rejected, nothing was recorded" if rows else "nothing was recorded"
    )
    return f"{which}: {head}{more}"


async def check_one_holder_a_day(
    conn: AsyncConnection, event_ids: list[int], index_of: dict[str, int] | None = None
) -> None:
    """One source giving one place two different holders on one day (two live events citing it): a 409, unless
    either is contested. Different sources disagreeing are rival claims: stored, and resolved by the periods."""
    clashes = (await conn.execute(q.SAME_DAY_CLASHES, {"ids": event_ids})).all()
    if not clashes:
        return
    errors = []
    for clash in clashes:
        error: dict[str, Any] = {
            "field": "date",
            "reason": f"on {clash.occurred_on} '{clash.place}' would be held by both {clash.actor} "
            f"(event {clash.external_id}) and {clash.other_actor} (event {clash.other_external_id}) "
            f"according to the same source ({', '.join(clash.sources)}); "
            "mark the place contested or correct one of them",
            "sources": list(clash.sources),
            "id": clash.id,
            "other_id": clash.other_id,
        }
        if index_of and clash.external_id in index_of:
            error = {"index": index_of[clash.external_id], **error}
        errors.append(error)
    raise Conflict(problem_summary(errors, len(event_ids)), errors=errors)


async def event_json(conn: AsyncConnection, event_id: int) -> str:
    body = await conn.scalar(q.EVENT, {"id": event_id})
    if body is None:
        raise NotFound(f"No event has the id {event_id}.")
    return str(body)


async def correct_event(conn: AsyncConnection, event_id: int, patch: EventPatch, *, key: ApiKey) -> None:
    """Apply a correction; the version it replaces stays in the history."""
    current = (await conn.execute(q.EVENT_FOR_UPDATE, {"id": event_id})).one_or_none()
    if current is None:
        raise NotFound(f"No event has the id {event_id}.")
    if current.retracted_at is not None:
        raise Conflict(
            f"Event {event_id} was retracted on {current.retracted_at:%Y-%m-%d}; it cannot be corrected."
        )
    merged = {**current.fields, **patch.model_dump(exclude_unset=True)}
    try:
        event = EventFields.model_validate(merged)
    except ValidationError as exc:
        errors = [{"field": ".".join(map(str, e["loc"])) or "body", "reason": e["msg"]} for e in exc.errors()]
        raise Unprocessable(
            "; ".join(f"{e['field']}: {e['reason']}" for e in errors), errors=errors
        ) from None
    refs = await References(conn).load(event_references([event]))
    row = event_row(event, refs, None)
    if refs.problems:
        raise Unprocessable(problem_summary(refs.problems, 1), errors=refs.problems)
    await conn.execute(q.UPDATE_EVENT, {**row, "id": event_id, "key_id": key.id})
    await conn.execute(q.REPLACE_SOURCES, {"id": event_id, "source_ids": row["source_ids"]})
    await conn.execute(q.RECORD_VERSIONS, {"ids": [event_id], "key_id": key.id})
    await check_one_holder_a_day(conn, [event_id])


async def retract_event(conn: AsyncConnection, event_id: int, *, key: ApiKey) -> None:
    """Retract an event: it stops shaping periods, and stays, with all its versions, in the history."""
    found = await conn.scalar(q.RETRACT_EVENT, {"id": event_id, "key_id": key.id})
    if found is None:
        raise NotFound(f"No event has the id {event_id}.")
    await conn.execute(q.RECORD_VERSIONS, {"ids": [event_id], "key_id": key.id})


async def history_json(conn: AsyncConnection, event_id: int) -> str:
    body = await conn.scalar(q.HISTORY, {"id": event_id})
    if body is None:
        raise NotFound(f"No event has the id {event_id}.")
    return str(body)
