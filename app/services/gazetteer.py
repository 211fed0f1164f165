"""Places given by name and coordinates: the known place they are, or a new one flagged for review.

Every writer of events goes through here (`POST /v1/events`, the batches, `territory ingest`, `territory import
acled`): an event whose `location` is set names its place by `place` (the name) and the location, not by a
reference. The rule is app/db/queries/gazetteer.py's; this runs it for a whole request in two statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries import gazetteer as q
from app.schemas.events import EventCreate
from app.services.borders import country_borders


async def locate(
    conn: AsyncConnection, events: Sequence[EventCreate]
) -> tuple[list[EventCreate], dict[int, dict[str, Any]]]:
    """The events with each located place replaced by the id of the place it is (found or created), and, by the
    event's index, what became of its place ({id, slug, name, result: matched|created, distance_km})."""
    located = [(index, e) for index, e in enumerate(events) if e.location is not None]
    if not located:
        return list(events), {}
    row_of: dict[tuple[Any, ...], int] = {}  # the same name and point, given by several events: one row
    rows: list[dict[str, Any]] = []
    event_rows: dict[int, int] = {}
    for index, e in located:
        assert e.location is not None
        key = (e.place, e.location.lat, e.location.lon, e.location.kind, e.location.country)
        if key not in row_of:
            row_of[key] = len(rows)
            rows.append(
                {
                    "i": len(rows),
                    "name": e.place,
                    "lat": e.location.lat,
                    "lon": e.location.lon,
                    "kind": e.location.kind,
                    "country": e.location.country,
                    "review": f"created for event {e.external_id or index}: no known place within reach of "
                    f"{e.location.lat}, {e.location.lon} is named like '{e.place}'",
                }
            )
        event_rows[index] = row_of[key]

    params = {"rows": orjson.dumps(rows).decode(), "default_kind": q.DEFAULT_KIND}
    matches = (await conn.execute(q.MATCH, params)).all()
    places: dict[int, dict[str, Any]] = {}
    same_as: dict[int, int] = {}
    for m in matches:
        if m.id is not None:
            places[m.i] = {
                "id": m.id,
                "slug": m.slug,
                "name": m.name,
                "result": "matched",
                "distance_km": m.distance_km,
            }
        elif m.same_as is not None:
            same_as[m.i] = m.same_as
    if new := [rows[m.i] for m in matches if m.id is None and m.same_as is None]:
        created = await conn.execute(
            q.CREATE,
            {
                "rows": orjson.dumps(new).decode(),
                "default_kind": q.DEFAULT_KIND,
                "borders": country_borders(),
            },
        )
        for c in created:
            places[c.i] = {
                "id": c.id,
                "slug": c.slug,
                "name": c.name,
                "result": "created",
                "distance_km": None,
            }
    for i in sorted(same_as):  # an earlier row of the request, created above or resolved before this one
        places[i] = places[same_as[i]]

    resolved = list(events)
    outcome: dict[int, dict[str, Any]] = {}
    for index, row in event_rows.items():
        place = places[row]
        resolved[index] = events[index].model_copy(update={"place": str(place["id"]), "location": None})
        outcome[index] = place
    return resolved, outcome
