"""Rival claims of one day, stored and resolved by the database's rule (app/db/sql/derive_control_periods.sql):
confidence, then independent sources, then the latest report; the same answer whatever order they arrive in."""

from __future__ import annotations

import itertools
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.factories import make_actor, make_event, make_place, make_source

DAY = date(2016, 12, 11)


async def resolved(conn: AsyncConnection, place: int) -> list[tuple]:
    """(holder, status, since, until, confidence, disputed, the rivals' external ids, the event's external id)."""
    rows = await conn.execute(
        text("""SELECT cp.actor_id, cp.status, lower(cp.valid) AS since, upper(cp.valid) AS until, cp.confidence,
                       cp.disputed, e.external_id AS event,
                       ARRAY(SELECT r.external_id FROM control_event AS r WHERE r.id = ANY(cp.rival_event_ids)
                             ORDER BY r.external_id) AS rivals
                FROM control_period AS cp JOIN control_event AS e ON e.id = cp.control_event_id
                WHERE cp.place_id = :p ORDER BY lower(cp.valid)"""),
        {"p": place},
    )
    return [
        (r.actor_id, r.status, r.since, r.until, r.confidence, r.disputed, r.rivals, r.event) for r in rows
    ]


async def test_two_sources_disagreeing_on_a_day_are_both_kept_and_the_surer_gives_the_state(
    conn: AsyncConnection,
) -> None:
    place, army, is_ = await make_place(conn), await make_actor(conn), await make_actor(conn)
    agency, monitor = await make_source(conn), await make_source(conn)
    await make_event(conn, place, date(2016, 3, 27), army, sources=[monitor], external_id="x-held")
    await make_event(conn, place, DAY, is_, confidence="claimed", sources=[agency], external_id="x-is-claims")
    await make_event(conn, place, DAY, army, kind="held", sources=[monitor], external_id="x-army-holds")
    assert await resolved(conn, place) == [
        (army, "controlled", date(2016, 3, 27), DAY, "confirmed", False, [], "x-held"),
        (army, "controlled", DAY, None, "confirmed", True, ["x-is-claims"], "x-army-holds"),
    ]


async def test_the_rule_picks_the_same_holder_whatever_the_arrival_order(conn: AsyncConnection) -> None:
    a, b, c = await make_actor(conn), await make_actor(conn), await make_actor(conn)
    old, new = await make_source(conn, date(2016, 12, 11)), await make_source(conn, date(2016, 12, 14))
    third, fourth = await make_source(conn), await make_source(conn)
    claims = [
        # Equal confidence: b has two independent sources (one of them the newest report), so b wins over c
        # (one source, older) and over the merely claimed a.
        ("x-a", a, "claimed", [fourth]),
        ("x-b1", b, "reported", [new]),
        ("x-b2", b, "reported", [third]),
        ("x-c", c, "reported", [old]),
    ]
    results = []
    for order in itertools.permutations(claims):
        place = await make_place(conn)
        await make_event(conn, place, date(2016, 1, 1), a, kind="held", sources=[old], external_id="x-held")
        await make_event(conn, place, date(2017, 3, 2), c, sources=[old], external_id="x-later")
        for external_id, actor, confidence, sources in order:
            await make_event(
                conn, place, DAY, actor, confidence=confidence, sources=sources, external_id=external_id
            )
        rows = await resolved(conn, place)
        results.append(rows)
        await conn.execute(text("DELETE FROM control_event WHERE place_id = :p"), {"p": place})
    assert [r for r in results if r != results[0]] == []
    held, disputed, later = results[0]
    assert held[:4] == (a, "controlled", date(2016, 1, 1), DAY)
    assert disputed[:6] == (b, "controlled", DAY, date(2017, 3, 2), "reported", True)
    assert disputed[6] == ["x-a", "x-c"]  # each rival, not the other claim of the same holder
    assert disputed[7] == "x-b1"  # of b's two claims, the newer report
    assert later[:2] == (c, "controlled") and not later[5]


async def test_more_independent_sources_win_then_the_latest_report(conn: AsyncConnection) -> None:
    place, a, b = await make_place(conn), await make_actor(conn), await make_actor(conn)
    early, late = await make_source(conn, date(2017, 1, 1)), await make_source(conn, date(2017, 2, 1))
    await make_event(conn, place, DAY, a, confidence="reported", sources=[early])
    await make_event(conn, place, DAY, b, confidence="reported", sources=[late])
    assert (await resolved(conn, place))[0][0] == b  # the later report
    # Correcting the later source's date (it was older after all) resolves the day again.
    await conn.execute(text("UPDATE source SET published_on = '2016-12-12' WHERE id = :s"), {"s": late})
    assert (await resolved(conn, place))[0][0] == a


async def test_one_source_revising_its_own_account_that_day_is_no_dispute(conn: AsyncConnection) -> None:
    place, gov, rebels = await make_place(conn), await make_actor(conn), await make_actor(conn)
    monitor = await make_source(conn)
    await make_event(conn, place, DAY, None, status="contested", kind="contested", parties=[gov, rebels],
                     sources=[monitor])  # fmt: skip
    await make_event(conn, place, DAY, rebels, seq=1, sources=[monitor])
    assert [(r[0], r[1], r[5]) for r in await resolved(conn, place)] == [(rebels, "controlled", False)]


async def test_a_dispute_lasts_until_the_next_report_and_a_later_less_sure_one_keeps_the_state_sure(
    conn: AsyncConnection,
) -> None:
    place, gov, is_ = await make_place(conn), await make_actor(conn), await make_actor(conn)
    official, witness, wiki = await make_source(conn), await make_source(conn), await make_source(conn)
    await make_event(conn, place, date(2017, 7, 10), gov, kind="liberated", sources=[official])
    await make_event(conn, place, date(2017, 7, 10), None, status="contested", kind="contested",
                     parties=[gov, is_], confidence="reported", sources=[witness], external_id="x-fighting")  # fmt: skip
    await make_event(conn, place, date(2017, 7, 21), gov, confidence="reported", sources=[wiki])
    rows = await resolved(conn, place)
    assert [(r[2], r[3], r[4], r[5], r[6]) for r in rows] == [
        (date(2017, 7, 10), date(2017, 7, 21), "confirmed", True, ["x-fighting"]),
        (date(2017, 7, 21), None, "confirmed", False, []),
    ]


async def test_rival_claims_without_a_source_in_common_on_one_day_from_the_api_path(
    conn: AsyncConnection,
) -> None:
    # Sources linked after the events (as the API does): the periods are resolved again once they are.
    place, a, b = await make_place(conn), await make_actor(conn), await make_actor(conn)
    s1, s2 = await make_source(conn), await make_source(conn)
    await make_event(conn, place, DAY, a, confidence="reported", sources=[s1])
    await make_event(conn, place, DAY, b, confidence="reported", sources=[s2, s1])
    # Sharing s1 they were one source's sequence; b's second source makes b the surer-sourced claim anyway.
    assert [(r[0], r[5]) for r in await resolved(conn, place)] == [(b, False)]
    await conn.execute(
        text("DELETE FROM control_event_source WHERE source_id = :s AND control_event_id IN "
             "(SELECT id FROM control_event WHERE place_id = :p AND actor_id = :b)"),
        {"s": s1, "p": place, "b": b},
    )  # fmt: skip
    assert [(r[0], r[5]) for r in await resolved(conn, place)] == [(a, True)]


async def test_a_minimum_confidence_derives_from_the_surer_events_only(conn: AsyncConnection) -> None:
    place, gov, is_ = await make_place(conn), await make_actor(conn), await make_actor(conn)
    await make_event(conn, place, date(2016, 1, 1), gov, kind="held")
    await make_event(conn, place, DAY, is_, confidence="claimed")
    await make_event(conn, place, date(2017, 1, 1), gov, confidence="reported")

    async def derived(least: str | None) -> list[tuple]:
        rows = await conn.execute(
            text(
                "SELECT actor_id, lower(valid) AS since FROM derive_control_periods(NULL, :p, :c) ORDER BY 2"
            ),
            {"p": [place], "c": least},
        )
        return [tuple(r) for r in rows]

    assert await derived(None) == [(gov, date(2016, 1, 1)), (is_, DAY), (gov, date(2017, 1, 1))]
    assert await derived("reported") == [(gov, date(2016, 1, 1))]
    assert await derived("confirmed") == [(gov, date(2016, 1, 1))]
