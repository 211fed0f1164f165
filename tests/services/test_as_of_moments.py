"""As of a moment, the states and periods are what the record held at that moment, for every place: those whose
record changed since (derived again from the versions) and those whose record did not (read as stored,
places_recorded_since). Each moment's answer is checked against what the live tables held then."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.test_corrections import moment

PLACES = ("palmyra", "tiyas-airbase", "raqqa", "al-bab", "jarabulus", "mare", "azaz", "dabiq")
ACTORS = ("islamic-state", "syrian-army", "peshmerga", "iraqi-security-forces")
SOURCE = "rferl-miller-2017-is-collapsing"

# The least zoom is left out: place_zoom is kept for today's points only (a move re-decides its neighbours' cells),
# and an as_of read shows today's thinning.
STATE_COLUMNS = """place_id, valid, actor_id, status, party_ids, control_event_id, uncertain_until,
    ST_AsText(geom, 6), ST_AsText(geom_3857, 1), slug, name, kind, confidence, rival_event_ids, disputed,
    territory_id"""
PERIOD_COLUMNS = (
    "place_id, actor_id, status, party_ids, valid, control_event_id, confidence, disputed, rival_event_ids"
)

STORED_STATES = f"SELECT {STATE_COLUMNS} FROM place_state WHERE place_id = ANY(:ids)"
STORED_PERIODS = f"SELECT {PERIOD_COLUMNS} FROM control_period WHERE place_id = ANY(:ids)"
MOMENT = "CAST(CAST(:as_of AS text) AS timestamptz)"
# As of the moment, for the places asked about; and for every place, then kept to those.
DERIVED_STATES = f"SELECT {STATE_COLUMNS} FROM derive_place_states({MOMENT}, :ids)"
DERIVED_PERIODS = f"SELECT {PERIOD_COLUMNS} FROM derive_control_periods({MOMENT}, :ids)"
EVERY_PLACE_STATES = (
    f"SELECT {STATE_COLUMNS} FROM derive_place_states({MOMENT}, NULL) WHERE place_id = ANY(:ids)"
)
EVERY_PLACE_PERIODS = (
    f"SELECT {PERIOD_COLUMNS} FROM derive_control_periods({MOMENT}, NULL) WHERE place_id = ANY(:ids)"
)


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> set[tuple[Any, ...]]:
    async with engine.connect() as connection:
        result = await connection.execute(text(sql), params)
        return {tuple(tuple(v) if isinstance(v, list) else v for v in r) for r in result}


async def test_as_of_every_moment_answers_what_the_record_held_then(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    rng = random.Random(23)
    ids = [
        i for (i,) in await rows(write_engine, "SELECT id FROM place WHERE slug = ANY(:s)", s=list(PLACES))
    ]
    assert len(ids) == len(PLACES)
    events: list[int] = []
    added = iter(range(1000))

    async def write() -> str:
        """One write through the API, as its users make them: an event, a correction of its date, holder or
        place, a retraction, or the place itself moved or renamed."""
        action = rng.random()
        day = str(date(2014, 1, 1) + timedelta(days=rng.randrange(0, 1400)))
        if action < 0.4 or not events:
            body = {
                "external_id": f"test-moment-{next(added)}",
                "place": rng.choice(PLACES),
                "date": day,
                "kind": "captured",
                "actor": rng.choice(ACTORS),
                "status": "controlled",
                "sources": [SOURCE],
            }
            response = await write_client.post("/v1/events", json=body, headers=ingest_headers)
            events.append(response.json()["id"])
            return f"event {body}"
        event = rng.choice(events)
        if action < 0.75:
            field, value = rng.choice(
                [("date", day), ("actor", rng.choice(ACTORS)), ("place", rng.choice(PLACES))]
            )
            response = await write_client.patch(
                f"/v1/events/{event}", json={field: value}, headers=ingest_headers
            )
            assert response.status_code in (200, 409), response.text
            return f"event {event}: {field} = {value}"
        if action < 0.9:
            response = await write_client.delete(f"/v1/events/{event}", headers=ingest_headers)
            events.remove(event)
            return f"event {event} retracted"
        place = rng.choice(PLACES)
        moved = {
            "lon": round(rng.uniform(37, 40), 4),
            "lat": round(rng.uniform(34, 37), 4),
            "name": f"Renamed {day}",
        }
        response = await write_client.patch(f"/v1/places/{place}", json=moved, headers=ingest_headers)
        assert response.status_code == 200, response.text
        return f"{place} moved: {moved}"

    async def held() -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
        """What place_state and control_period hold now for the places."""
        return await rows(write_engine, STORED_STATES, ids=ids), await rows(
            write_engine, STORED_PERIODS, ids=ids
        )

    moments = [(await moment(write_engine), "the seed")]
    record = [await held()]

    async def move_away(step: int) -> str:
        """The last two writes: an event at Palmyra, then moved to Dabiq; as of between them, that move is all that
        changed in Palmyra's record (its version there superseded, the new one elsewhere)."""
        if step == 40:
            body = {
                "external_id": "test-moment-moved",
                "place": "palmyra",
                "date": "2015-05-01",
                "kind": "captured",
                "actor": "islamic-state",
                "status": "controlled",
                "sources": [SOURCE],
            }
            events.append(
                (await write_client.post("/v1/events", json=body, headers=ingest_headers)).json()["id"]
            )
            return "an event at palmyra"
        response = await write_client.patch(
            f"/v1/events/{events[-1]}", json={"place": "dabiq"}, headers=ingest_headers
        )
        assert response.status_code == 200, response.text
        return "that event moved to dabiq"

    for step in range(42):
        what = await (write() if step < 40 else move_away(step))
        moments.append((await moment(write_engine), what))
        record.append(await held())
    assert len({frozenset(states) for states, _ in record}) > 20  # the writes changed what the places show

    for (as_of, after), (states, periods) in zip(moments, record, strict=True):
        assert await rows(write_engine, DERIVED_STATES, as_of=as_of, ids=ids) == states, f"after {after}"
        assert await rows(write_engine, DERIVED_PERIODS, as_of=as_of, ids=ids) == periods, f"after {after}"
        assert await rows(write_engine, EVERY_PLACE_STATES, as_of=as_of, ids=ids) == states, f"after {after}"
        assert await rows(write_engine, EVERY_PLACE_PERIODS, as_of=as_of, ids=ids) == periods, (
            f"after {after}"
        )
        one = rng.choice(ids)  # a read of one place
        assert await rows(write_engine, DERIVED_STATES, as_of=as_of, ids=[one]) == {
            s for s in states if s[0] == one
        }, f"after {after}"
