"""place_state, kept by triggers, is always what the derivation gives: every place's periods, the stretches no
period covers, the event's uncertainty window and the place's own columns, whatever writes the events."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries.control import control_at_json, control_map_json
from app.db.queries.filters import BBox, ControlFilter
from tests.factories import make_actor, make_event, make_place

STORED = """
    SELECT place_id, lower(valid) AS since, upper(valid) AS until, actor_id, status, party_ids,
           control_event_id, uncertain_until, ST_AsText(geom, 6) AS point,
           ST_AsText(ST_Transform(geom_3857, 4326), 6) AS mercator_back, slug, name, kind
    FROM place_state WHERE place_id = ANY(:ids)
"""

# Written independently of derive_place_states: the periods from the derivation of control periods itself, the
# precision from each period's event, the gaps computed here in Python.
PERIODS = """
    SELECT d.place_id, lower(d.valid) AS since, upper(d.valid) AS until, d.actor_id, d.status, d.party_ids,
           d.control_event_id, e.precision
    FROM derive_control_periods(NULL, CAST(:ids AS integer[])) AS d JOIN control_event AS e ON e.id = d.control_event_id
"""
PLACES = "SELECT id, ST_AsText(geom, 6) AS point, slug, name, kind FROM place WHERE id = ANY(:ids)"


def window_end(since: date, precision: str) -> date | None:
    """Until when a state that began on `since` is only possible (a month- or year-precision event)."""
    if precision == "month":
        return date(since.year + since.month // 12, since.month % 12 + 1, 1)
    if precision == "year":
        return since.replace(year=since.year + 1)
    return None


async def expected(conn: AsyncConnection, ids: list[int]) -> set[tuple[Any, ...]]:
    places = {r.id: r for r in await conn.execute(text(PLACES), {"ids": ids})}
    by_place: dict[int, list[Any]] = {i: [] for i in places}
    for r in await conn.execute(text(PERIODS), {"ids": ids}):
        by_place[r.place_id].append(r)
    rows = set()
    for place_id, periods in by_place.items():
        p = places[place_id]
        own = (p.point, p.point, p.slug, p.name, p.kind)
        periods.sort(key=lambda r: r.since)
        edge: date | None = None  # where the last stretch ended (None: the beginning of time)
        for r in periods:
            if edge != r.since:
                rows.add((place_id, edge, r.since, None, None, None, None, None, *own))
            rows.add(
                (
                    place_id,
                    r.since,
                    r.until,
                    r.actor_id,
                    r.status,
                    tuple(r.party_ids),
                    r.control_event_id,
                    window_end(r.since, r.precision),
                    *own,
                )
            )
            edge = r.until
            if edge is None:
                break
        else:
            rows.add((place_id, edge, None, None, None, None, None, None, *own))
    return rows


async def stored(conn: AsyncConnection, ids: list[int]) -> set[tuple[Any, ...]]:
    return {
        (
            r.place_id,
            r.since,
            r.until,
            r.actor_id,
            r.status,
            None if r.party_ids is None else tuple(r.party_ids),
            r.control_event_id,
            r.uncertain_until,
            r.point,
            r.mercator_back,
            r.slug,
            r.name,
            r.kind,
        )
        for r in await conn.execute(text(STORED), {"ids": ids})
    }


async def test_place_states_follow_random_writes_corrections_and_retractions(conn: AsyncConnection) -> None:
    rng = random.Random(12)
    actors = [await make_actor(conn) for _ in range(3)]
    places = [await make_place(conn, lon=38 + i / 10) for i in range(4)]
    assert await stored(conn, places) == await expected(conn, places)  # a new place: one unknown stretch
    events: list[int] = []

    def day() -> date:
        return date(2014, 1, 1) + timedelta(days=rng.randrange(0, 700))

    for step in range(120):
        action = rng.random()
        if action < 0.35 or not events:
            status = rng.choice(["controlled", "controlled", "contested", "besieged"])
            holder = None if status == "contested" else rng.choice(actors)
            parties = {"contested": actors[:2], "besieged": [actors[2]]}.get(status, [])
            precision = rng.choice(["day", "day", "month", "year"])
            on = day()
            on = on.replace(day=1) if precision == "month" else on
            on = on.replace(month=1, day=1) if precision == "year" else on
            kind = "captured" if status == "controlled" else status
            events.append(
                await make_event(
                    conn,
                    rng.choice(places),
                    on,
                    holder,
                    status=status,
                    kind=kind,
                    precision=precision,
                    parties=parties,
                )
            )
        elif action < 0.55:  # a correction of the date, or of the holder
            event = rng.choice(events)
            await conn.execute(
                text("UPDATE control_event SET occurred_on = :on WHERE id = :id AND precision = 'day'"),
                {"on": day(), "id": event},
            )
            await conn.execute(
                text("UPDATE control_event SET actor_id = :a WHERE id = :id AND status <> 'contested'"),
                {"a": rng.choice(actors), "id": event},
            )
        elif action < 0.65:  # a precision corrected: no period changes, its window does
            await conn.execute(
                text(
                    "UPDATE control_event SET precision = CASE precision WHEN 'day' THEN 'month' ELSE 'day' END "
                    "WHERE id = :id AND extract(day FROM occurred_on) = 1 AND extract(month FROM occurred_on) <> 1"
                ),
                {"id": rng.choice(events)},
            )
        elif action < 0.8:  # a retraction, or one undone
            await conn.execute(
                text(
                    "UPDATE control_event SET retracted_at = CASE WHEN retracted_at IS NULL THEN now() END "
                    "WHERE id = :id"
                ),
                {"id": rng.choice(events)},
            )
        elif action < 0.9:  # an event deleted outright, or moved to another place
            event = rng.choice(events)
            if rng.random() < 0.5:
                await conn.execute(text("DELETE FROM control_event WHERE id = :id"), {"id": event})
                events.remove(event)
            else:
                await conn.execute(
                    text("UPDATE control_event SET place_id = :p WHERE id = :id"),
                    {"p": rng.choice(places), "id": event},
                )
        elif action < 0.95:  # several places in one statement: every event of a day moves a week later
            await conn.execute(
                text(
                    "UPDATE control_event SET occurred_on = occurred_on + 7 "
                    "WHERE place_id = ANY(:ids) AND precision = 'day' AND extract(dow FROM occurred_on) = :dow"
                ),
                {"ids": places, "dow": rng.randrange(7)},
            )
        else:  # the place itself moved and renamed
            place = rng.choice(places)
            await conn.execute(
                text(
                    "UPDATE place SET geom = ST_SetSRID(ST_MakePoint(:lon, 35.5), 4326), name = :n WHERE id = :id"
                ),
                {"lon": rng.uniform(36, 40), "n": f"Renamed {step}", "id": place},
            )
        assert await stored(conn, places) == await expected(conn, places), f"after step {step}"


async def test_every_place_has_one_state_on_every_date(conn: AsyncConnection) -> None:
    gov = await make_actor(conn)
    place = await make_place(conn)
    await make_event(conn, place, date(2014, 7, 1), gov)
    await make_event(conn, place, date(2015, 1, 1), gov, status="besieged", kind="besieged", parties=[gov])
    counts = await conn.execute(
        text("""SELECT d, (SELECT count(*) FROM place_state AS s WHERE s.place_id = :p AND s.valid @> d)
                FROM unnest(CAST(:days AS date[])) AS d"""),
        {
            "p": place,
            "days": [
                date(1900, 1, 1),
                date(2014, 6, 30),
                date(2014, 7, 1),
                date(2015, 1, 1),
                date(2099, 1, 1),
            ],
        },
    )
    assert all(n == 1 for _, n in counts)


async def test_a_corrected_precision_changes_the_certainty_on_the_map_and_the_one_place_answer(
    conn: AsyncConnection,
) -> None:
    gov = await make_actor(conn)
    place = await make_place(conn, "test-precision-town", lon=38.25, lat=35.25)
    event = await make_event(conn, place, date(2014, 7, 1), gov, precision="month")
    at = date(2014, 7, 20)
    where = ControlFilter(at=at, bbox=BBox(38.2, 35.2, 38.3, 35.3))

    async def certainty() -> tuple[str, str]:
        one = orjson.loads(await control_at_json(conn, ref="test-precision-town", at=at))
        [feature] = orjson.loads(await control_map_json(conn, where))["features"]
        return one["certainty"], feature["properties"]["certainty"]

    assert await certainty() == ("possible", "possible")
    await conn.execute(text("UPDATE control_event SET precision = 'day' WHERE id = :id"), {"id": event})
    assert await certainty() == ("definite", "definite")
