"""Control periods derived by the database from events, whatever order the events arrive in."""

from __future__ import annotations

import itertools
from datetime import date

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries.control import control_at_json
from tests.factories import make_actor, make_event, make_place, periods


def spans(rows: list[dict]) -> list[tuple]:
    return [(r["actor_id"], r["status"], r["since"], r["until"]) for r in rows]


async def test_periods_follow_events_and_last_one_is_open(conn: AsyncConnection) -> None:
    place, gov, rebels = await make_place(conn), await make_actor(conn), await make_actor(conn)
    await make_event(conn, place, date(2012, 1, 1), gov, kind="held")
    await make_event(conn, place, date(2013, 3, 4), rebels)
    assert spans(await periods(conn, place)) == [
        (gov, "controlled", date(2012, 1, 1), date(2013, 3, 4)),
        (rebels, "controlled", date(2013, 3, 4), None),
    ]


async def test_out_of_order_arrival_gives_the_same_periods(conn: AsyncConnection) -> None:
    a, b, c = await make_actor(conn), await make_actor(conn), await make_actor(conn)
    history = [(date(2014, 1, 1), a), (date(2015, 5, 21), b), (date(2016, 3, 27), c), (date(2016, 12, 11), b)]
    results = []
    for order in itertools.permutations(history):
        place = await make_place(conn)
        for on, actor in order:
            await make_event(conn, place, on, actor)
        results.append(spans(await periods(conn, place)))
    assert all(r == results[0] for r in results)
    assert [(actor, since) for actor, _, since, _ in results[0]] == [(a, d) for d, a in history[:1]] + [
        (actor, on) for on, actor in history[1:]
    ]


async def test_two_events_on_one_day_the_last_gives_the_state(conn: AsyncConnection) -> None:
    place, gov, rebels = await make_place(conn), await make_actor(conn), await make_actor(conn)
    await make_event(conn, place, date(2012, 1, 1), gov, kind="held")
    # Recorded in reverse: seq, not recording order, says which came last that day.
    await make_event(conn, place, date(2015, 5, 21), rebels, seq=1)
    await make_event(
        conn, place, date(2015, 5, 21), None, status="contested", kind="contested", parties=[gov, rebels]
    )
    assert spans(await periods(conn, place)) == [
        (gov, "controlled", date(2012, 1, 1), date(2015, 5, 21)),
        (rebels, "controlled", date(2015, 5, 21), None),
    ]


async def test_same_day_events_without_seq_follow_recording_order(conn: AsyncConnection) -> None:
    place, gov, rebels = await make_place(conn), await make_actor(conn), await make_actor(conn)
    await make_event(conn, place, date(2015, 5, 21), rebels)
    await make_event(
        conn, place, date(2015, 5, 21), None, status="contested", kind="contested", parties=[gov, rebels]
    )
    assert spans(await periods(conn, place)) == [(None, "contested", date(2015, 5, 21), None)]


async def test_consecutive_events_with_the_same_state_merge_into_one_period(conn: AsyncConnection) -> None:
    place, gov, rebels = await make_place(conn), await make_actor(conn), await make_actor(conn)
    first = await make_event(conn, place, date(2015, 12, 28), gov, kind="liberated")
    await make_event(conn, place, date(2016, 2, 9), gov, kind="liberated")  # clearing complete: no change
    await make_event(conn, place, date(2014, 1, 1), rebels)
    rows = await periods(conn, place)
    assert spans(rows) == [
        (rebels, "controlled", date(2014, 1, 1), date(2015, 12, 28)),
        (gov, "controlled", date(2015, 12, 28), None),
    ]
    assert rows[1]["control_event_id"] == first


async def test_besieged_and_contested_periods_name_their_parties(conn: AsyncConnection) -> None:
    place, gov, is_ = await make_place(conn), await make_actor(conn), await make_actor(conn)
    await make_event(conn, place, date(2011, 3, 15), gov, kind="held")
    await make_event(conn, place, date(2014, 7, 1), gov, status="besieged", kind="besieged", parties=[is_])
    await make_event(conn, place, date(2017, 9, 9), gov, kind="siege_broken")
    rows = await periods(conn, place)
    assert [(r["status"], r["party_ids"]) for r in rows] == [
        ("controlled", []),
        ("besieged", [is_]),
        ("controlled", []),
    ]


async def test_changing_or_deleting_an_event_recomputes_the_periods(conn: AsyncConnection) -> None:
    place, gov, rebels = await make_place(conn), await make_actor(conn), await make_actor(conn)
    await make_event(conn, place, date(2012, 1, 1), gov, kind="held")
    capture = await make_event(conn, place, date(2013, 3, 4), rebels)

    await conn.execute(
        text("UPDATE control_event SET occurred_on = '2013-04-01' WHERE id = :id"), {"id": capture}
    )
    assert spans(await periods(conn, place))[1][2] == date(2013, 4, 1)

    await conn.execute(text("DELETE FROM control_event WHERE id = :id"), {"id": capture})
    assert spans(await periods(conn, place)) == [(gov, "controlled", date(2012, 1, 1), None)]


async def test_month_precision_is_possible_within_the_month_and_definite_after(conn: AsyncConnection) -> None:
    place, gov, is_ = (
        await make_place(conn, "test-month-town"),
        await make_actor(conn),
        await make_actor(conn),
    )
    await make_event(conn, place, date(2011, 1, 1), gov, kind="held", precision="year")
    await make_event(conn, place, date(2014, 7, 1), is_, precision="month")

    async def answer(on: date) -> dict:
        return orjson.loads(await control_at_json(conn, ref="test-month-town", at=on))

    inside, after, before = (
        await answer(date(2014, 7, 20)),
        await answer(date(2014, 8, 1)),
        await answer(date(2014, 6, 30)),
    )
    assert (inside["certainty"], inside["since"]) == ("possible", "2014-07-01")
    assert after["certainty"] == "definite"
    assert (before["certainty"], before["since"]) == ("definite", "2011-01-01")
    assert (await answer(date(2011, 6, 1)))["certainty"] == "possible"  # inside the year-precision window
