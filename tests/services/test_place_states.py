"""place_state, kept by triggers, is always what the derivation gives: every place's periods, the stretches no
period covers split by the territories covering the place, the event's uncertainty window and the place's own
columns, whatever writes the events and the territories."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.queries.as_of import ALL_PLACES, REFERENCED_PLACE, as_of_sql
from app.db.queries.control import (
    CONTROL_AT,
    TERRITORY_AT,
    control_at_json,
    control_map_json,
    control_map_sql,
)
from app.db.queries.filters import BBox, ControlFilter
from app.db.queries.places import one_place_json
from tests.factories import make_actor, make_event, make_place

STORED = """
    SELECT place_id, lower(valid) AS since, upper(valid) AS until, actor_id, status, party_ids,
           control_event_id, uncertain_until, ST_AsText(geom, 6) AS point,
           ST_AsText(ST_Transform(geom_3857, 4326), 6) AS mercator_back, slug, name, kind, territory_id
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
COVERING = """
    SELECT p.id AS place_id, t.id, lower(t.valid) AS since, upper(t.valid) AS until, t.approximate
    FROM place AS p JOIN territory AS t ON ST_Covers(t.geom, p.geom) WHERE p.id = ANY(:ids)
"""

# How the reads found a place's territory before place_state kept it (main up to 0013): a probe per place.
PROBED_TERRITORY_AT = """
    LEFT JOIN LATERAL (
        SELECT t.id, t.external_id, t.actor_id, t.valid, t.source_id, t.approximate FROM territory AS t
        WHERE cp.control_event_id IS NULL AND t.valid @> CAST(:at AS date) AND ST_Covers(t.geom, cp.geom)
        ORDER BY t.approximate, lower(t.valid) DESC, t.id
        LIMIT 1
    ) AS tr ON true
"""


def window_end(since: date, precision: str) -> date | None:
    """Until when a state that began on `since` is only possible (a month- or year-precision event)."""
    if precision == "month":
        return date(since.year + since.month // 12, since.month % 12 + 1, 1)
    if precision == "year":
        return since.replace(year=since.year + 1)
    return None


def split_by_territories(
    since: date | None, until: date | None, territories: list[Any]
) -> list[tuple[date | None, date | None, int | None]]:
    """A stretch no period covers, in pieces each showing one territory (or none): the exact one over an
    approximate one, then the latest beginning (an unbounded one first), then the lowest id."""
    lo, hi = since or date.min, until or date.max
    spans = [(t.since or date.min, t.until or date.max, t) for t in territories]
    edges = sorted({lo, hi} | {d for a, b, _ in spans for d in (a, b) if lo < d < hi})
    pieces: list[tuple[date, date, int | None]] = []
    for a, b in zip(edges, edges[1:], strict=False):
        live = [t for start, end, t in spans if start <= a and b <= end]
        live.sort(
            key=lambda t: (t.approximate, t.since is not None, -(t.since or date.min).toordinal(), t.id)
        )
        winner = live[0].id if live else None
        if pieces and pieces[-1][2] == winner:
            pieces[-1] = (pieces[-1][0], b, winner)
        else:
            pieces.append((a, b, winner))
    return [(None if a == date.min else a, None if b == date.max else b, w) for a, b, w in pieces]


async def expected(conn: AsyncConnection, ids: list[int]) -> set[tuple[Any, ...]]:
    places = {r.id: r for r in await conn.execute(text(PLACES), {"ids": ids})}
    by_place: dict[int, list[Any]] = {i: [] for i in places}
    for r in await conn.execute(text(PERIODS), {"ids": ids}):
        by_place[r.place_id].append(r)
    covering: dict[int, list[Any]] = {i: [] for i in places}
    for r in await conn.execute(text(COVERING), {"ids": ids}):
        covering[r.place_id].append(r)
    rows = set()
    for place_id, periods in by_place.items():
        p = places[place_id]
        own = (p.point, p.point, p.slug, p.name, p.kind)

        def unknown(since: date | None, until: date | None) -> None:
            for a, b, territory in split_by_territories(since, until, covering[place_id]):  # noqa: B023
                rows.add((place_id, a, b, None, None, None, None, None, *own, territory))  # noqa: B023

        periods.sort(key=lambda r: r.since)
        edge: date | None = None  # where the last stretch ended (None: the beginning of time)
        for r in periods:
            if edge != r.since:
                unknown(edge, r.since)
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
                    None,
                )
            )
            edge = r.until
            if edge is None:
                break
        else:
            unknown(edge, None)
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
            r.territory_id,
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

    def box() -> dict[str, float]:
        """Somewhere around the places (those moved too): covering none, some or all of them."""
        west, south = rng.uniform(35.8, 38.3), rng.uniform(34.7, 35.4)
        return {"w": west, "s": south, "e": west + rng.uniform(0.05, 2.5), "n": south + rng.uniform(0.1, 0.8)}

    def validity() -> dict[str, date | None]:
        since = None if rng.random() < 0.15 else day() - timedelta(days=200)
        until = (
            None
            if rng.random() < 0.2
            else (since or date(2014, 1, 1)) + timedelta(days=rng.randrange(1, 500))
        )
        return {"since": since, "until": until}

    envelope = "ST_Multi(ST_MakeEnvelope(:w, :s, :e, :n, 4326))"
    territories: list[int] = []
    added = iter(range(1000))

    async def add_territory(approximate: bool) -> None:
        territories.append(
            await conn.scalar(
                text(f"""INSERT INTO territory (external_id, actor_id, geom, valid, approximate)
                         VALUES (:xid, :a, {envelope}, daterange(:since, :until), :approximate) RETURNING id"""),
                {"xid": f"test-area-{next(added)}", "a": rng.choice(actors), "approximate": approximate}
                | box()
                | validity(),
            )
        )

    # An approximate area and an exact one overlapping it over every place from the start.
    for approximate in (True, False):
        await add_territory(approximate)
        await conn.execute(
            text(f"UPDATE territory SET geom = {envelope} WHERE id = :id"),
            {"w": 37.5, "s": 34.5, "e": 39, "n": 36, "id": territories[-1]},
        )
    assert await stored(conn, places) == await expected(conn, places)

    async def write_territory() -> None:
        """A territory added, reshaped, moved in time, made exact or approximate, given away, or deleted."""
        action = rng.random()
        if action < 0.3 or not territories:
            await add_territory(rng.random() < 0.5)
            return
        area = rng.choice(territories)
        if action < 0.45:
            await conn.execute(
                text(f"UPDATE territory SET geom = {envelope} WHERE id = :id"), {"id": area} | box()
            )
        elif action < 0.6:
            await conn.execute(
                text("UPDATE territory SET valid = daterange(:since, :until) WHERE id = :id"),
                {"id": area} | validity(),
            )
        elif action < 0.7:
            await conn.execute(
                text("UPDATE territory SET approximate = NOT approximate WHERE id = :id"), {"id": area}
            )
        elif action < 0.8:  # changes no piece
            await conn.execute(
                text("UPDATE territory SET actor_id = :a WHERE id = :id"),
                {"a": rng.choice(actors), "id": area},
            )
        elif action < 0.9:  # several in one statement
            await conn.execute(
                text(
                    "UPDATE territory SET valid = daterange(lower(valid) - 30, upper(valid)) WHERE id = ANY(:ids)"
                ),
                {"ids": territories},
            )
        else:
            await conn.execute(text("DELETE FROM territory WHERE id = :id"), {"id": area})
            territories.remove(area)

    for step in range(120):
        if rng.random() < 0.35:
            await write_territory()
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
        if step % 10 == 9:
            await assert_answers_as_probed(conn, places, [date(2013, 3, 1), day(), day()])


async def assert_answers_as_probed(conn: AsyncConnection, places: list[int], dates: list[date]) -> None:
    """The map and the one-place answers on these dates are what the reads that probed each place's territory
    (main up to 0013) answered."""
    map_sql = control_map_sql(bbox=False, actor=False, coalition=False, kinds=False)
    assert TERRITORY_AT in map_sql and TERRITORY_AT in CONTROL_AT.text
    params = {"actor": None, "coalition": None, "kinds": None}
    slugs = list(await conn.scalars(text("SELECT slug FROM place WHERE id = ANY(:ids)"), {"ids": places}))
    for at in dates:
        kept, probed = [
            (await conn.execute(text(sql), params | {"at": at})).one().body
            for sql in (map_sql, map_sql.replace(TERRITORY_AT, PROBED_TERRITORY_AT))
        ]
        assert kept == probed, f"the map on {at}"
        for slug in slugs:
            kept, probed = [
                await one_place_json(conn, text(sql), slug, at=at, as_of=None, confidence=None)
                for sql in (CONTROL_AT.text, CONTROL_AT.text.replace(TERRITORY_AT, PROBED_TERRITORY_AT))
            ]
            assert kept == probed, f"{slug} on {at}"


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


async def test_as_of_shows_the_territory_as_it_stood_before_it_changed(write_engine: AsyncEngine) -> None:
    envelope = "ST_Multi(ST_MakeEnvelope(38, 35, 38.5, 35.5, 4326))"
    insert = f"""INSERT INTO territory (external_id, actor_id, geom, valid, approximate)
                 VALUES (:xid, :a, {envelope}, CAST(CAST(:valid AS text) AS daterange), :approximate) RETURNING id"""
    async with write_engine.begin() as conn:
        gov = await make_actor(conn)
        await make_place(conn, "test-between-areas", lon=38.25, lat=35.25)
        wide = await conn.scalar(
            text(insert), {"xid": "test-wide", "a": gov, "valid": "[2010-01-01,)", "approximate": True}
        )
        exact = await conn.scalar(
            text(insert),
            {"xid": "test-exact", "a": gov, "valid": "[2012-01-01,2016-01-01)", "approximate": False},
        )
    async with write_engine.connect() as conn:
        before = await conn.scalar(text("SELECT clock_timestamp()"))
    async with write_engine.begin() as conn:
        await conn.execute(
            text("UPDATE territory SET valid = '[2012-01-01,2013-01-01)' WHERE id = :id"), {"id": exact}
        )
        later = await conn.scalar(
            text(insert), {"xid": "test-later", "a": gov, "valid": "[2014-01-01,)", "approximate": False}
        )

    map_sql = control_map_sql(bbox=False, actor=False, coalition=False, kinds=False)
    params = {"actor": None, "coalition": None, "kinds": None}

    async def shown(conn: AsyncConnection, at: str, as_of: datetime | None) -> int:
        """The territory the place's answer shows, checked against the probing reads and the map."""
        kept, probed = [
            orjson.loads(
                await one_place_json(
                    conn, sql, "test-between-areas", at=date.fromisoformat(at), as_of=as_of, confidence=None
                )
            )
            for sql in (
                (as_of_sql(CONTROL_AT.text, REFERENCED_PLACE) if as_of else CONTROL_AT),
                (as_of_sql if as_of else lambda q, _: text(q))(
                    CONTROL_AT.text.replace(TERRITORY_AT, PROBED_TERRITORY_AT), REFERENCED_PLACE
                ),
            )
        ]
        assert kept == probed
        maps = [
            (
                await conn.execute(
                    as_of_sql(sql, ALL_PLACES) if as_of else text(sql),
                    params | {"at": date.fromisoformat(at), "as_of": as_of},
                )
            )
            .one()
            .body
            for sql in (map_sql, map_sql.replace(TERRITORY_AT, PROBED_TERRITORY_AT))
        ]
        assert maps[0] == maps[1]
        assert kept["basis"] == "territory"
        territory: int = kept["territory"]["id"]
        return territory

    async with write_engine.connect() as conn:
        assert [
            await shown(conn, at, None) for at in ("2011-06-01", "2012-06-01", "2013-06-01", "2014-06-01")
        ] == [wide, exact, wide, later]
        assert [
            await shown(conn, at, before) for at in ("2011-06-01", "2012-06-01", "2013-06-01", "2014-06-01")
        ] == [wide, exact, exact, exact]
        # As of a moment after the last territory write, the kept territories serve (no ring is tested).
        after = await conn.scalar(text("SELECT clock_timestamp()"))
        assert [
            await shown(conn, at, after) for at in ("2011-06-01", "2012-06-01", "2013-06-01", "2014-06-01")
        ] == [wide, exact, wide, later]
