"""Eight writers at once, overlapping batches for the same places: exactly the union lands, periods stay right."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.test_events_write import event

PLACES = ["palmyra", "al-bab", "dabiq", "mosul"]
HOLDERS = [("islamic-state", "syrian-army"), ("syrian-army", "islamic-state")]


def pool() -> list[dict[str, Any]]:
    """60 events over four places, one per place and day, holders alternating."""
    events = []
    for i in range(60):
        place = PLACES[i % 4]
        actor, loses = HOLDERS[(i // 4) % 2]
        day = f"2018-{1 + (i // 4) // 28:02d}-{1 + (i // 4) % 28:02d}"
        events.append(event(external_id=f"conc-{i:03d}", place=place, date=day, actor=actor, loses=loses))
    return events


async def send(
    client: httpx.AsyncClient, batch: list[dict[str, Any]], headers: dict[str, str]
) -> httpx.Response:
    """Post a batch, retrying when the service asks to (503 with Retry-After), as a script would."""
    for _ in range(10):
        response = await client.post("/v1/events/batch", json={"events": batch}, headers=headers)
        if response.status_code != 503:
            return response
        await asyncio.sleep(float(response.headers.get("retry-after", "1")) / 10)
    return response


async def test_eight_concurrent_overlapping_writers(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    events = pool()
    rng = random.Random(7)
    batches = [rng.sample(events, 25) for _ in range(8)]
    responses = await asyncio.gather(*(send(write_client, b, ingest_headers) for b in batches))

    assert [r.status_code for r in responses if r.status_code not in (200, 201)] == []
    sent = {e["external_id"] for batch in batches for e in batch}
    created = sum(r.json()["created"] for r in responses)
    assert created == len(sent)  # each event created by exactly one writer, reported existing to the others

    async with write_engine.connect() as connection:
        stored = (
            (
                await connection.execute(
                    text("SELECT external_id FROM control_event WHERE external_id LIKE 'conc-%'")
                )
            )
            .scalars()
            .all()
        )
        assert sorted(stored) == sorted(sent)
        versions = await connection.scalar(
            text("""SELECT count(*) FROM control_event_version AS v JOIN control_event AS e
                    ON e.id = v.control_event_id WHERE e.external_id LIKE 'conc-%'""")
        )
        assert versions == len(sent)
        # The stored periods are exactly what a derivation from the committed events gives now.
        mismatches = await connection.scalar(
            text("""
                WITH touched AS (SELECT array_agg(id) AS ids FROM place WHERE slug = ANY(:places)),
                     stored AS (SELECT place_id, actor_id, status, party_ids, valid, control_event_id, confidence,
                                       disputed, rival_event_ids
                                FROM control_period WHERE place_id IN (SELECT unnest(ids) FROM touched)),
                     derived AS (SELECT * FROM derive_control_periods(NULL, (SELECT ids FROM touched)))
                SELECT count(*) FROM ((TABLE stored EXCEPT TABLE derived) UNION ALL
                                      (TABLE derived EXCEPT TABLE stored)) AS difference
            """),
            {"places": PLACES},
        )
        assert mismatches == 0
