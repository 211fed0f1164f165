"""What the database itself refuses, whatever code writes to it."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.factories import make_actor, make_event, make_place


async def insert_period(
    conn: AsyncConnection, place_id: int, actor_id: int, event_id: int, valid: str
) -> None:
    await conn.execute(
        text("""INSERT INTO control_period (place_id, actor_id, status, valid, control_event_id)
                VALUES (:p, :a, 'controlled', CAST(CAST(:valid AS text) AS daterange), :e)"""),
        {"p": place_id, "a": actor_id, "e": event_id, "valid": valid},
    )


async def test_overlapping_control_periods_of_one_place_are_rejected(conn: AsyncConnection) -> None:
    place, actor = await make_place(conn), await make_actor(conn)
    event = await make_event(conn, place, date(2015, 1, 1), actor)  # derives [2015-01-01, ∞)
    with pytest.raises(IntegrityError, match="excl_control_period_overlap"):
        async with conn.begin_nested():
            await insert_period(conn, place, actor, event, "[2016-01-01,2016-02-01)")


async def test_adjacent_periods_and_other_places_do_not_conflict(conn: AsyncConnection) -> None:
    place, other, actor = await make_place(conn), await make_place(conn), await make_actor(conn)
    event = await make_event(conn, place, date(2015, 1, 1), actor)
    await conn.execute(text("DELETE FROM control_period WHERE place_id = :p"), {"p": place})
    await insert_period(conn, place, actor, event, "[2015-01-01,2015-06-01)")
    await insert_period(conn, place, actor, event, "[2015-06-01,2016-01-01)")  # half-open: touching is fine
    await insert_period(conn, other, actor, event, "[2015-01-01,2016-01-01)")


async def add_membership(conn: AsyncConnection, coalition: int, actor: int, valid: str) -> None:
    await conn.execute(
        text("""INSERT INTO coalition_membership (coalition_id, actor_id, valid)
                VALUES (:c, :a, CAST(CAST(:valid AS text) AS daterange))"""),
        {"c": coalition, "a": actor, "valid": valid},
    )


async def make_coalition(conn: AsyncConnection, slug: str) -> int:
    return int(
        await conn.scalar(
            text("INSERT INTO coalition (slug, name) VALUES (:s, :n) RETURNING id"), {"s": slug, "n": slug}
        )
    )


async def test_overlapping_memberships_in_one_coalition_are_rejected(conn: AsyncConnection) -> None:
    coalition, actor = await make_coalition(conn, "test-coalition"), await make_actor(conn)
    await add_membership(conn, coalition, actor, "[2016-01-01,2017-01-01)")
    with pytest.raises(IntegrityError, match="excl_coalition_membership_overlap"):
        async with conn.begin_nested():
            await add_membership(conn, coalition, actor, "[2016-06-01,)")


async def test_an_actor_may_be_in_two_coalitions_at_once(conn: AsyncConnection) -> None:
    first, second = await make_coalition(conn, "test-a"), await make_coalition(conn, "test-b")
    actor = await make_actor(conn)
    await add_membership(conn, first, actor, "[2016-01-01,2017-01-01)")
    await add_membership(conn, second, actor, "[2016-06-01,)")
    await add_membership(conn, first, actor, "[2017-01-01,2018-01-01)")  # back-to-back in one coalition
    count = await conn.scalar(
        text("SELECT count(*) FROM coalition_membership WHERE actor_id = :a"), {"a": actor}
    )
    assert count == 3


@pytest.mark.parametrize(
    ("status", "parties", "precision", "on", "constraint"),
    [
        ("contested", "one", "day", date(2016, 1, 5), "contested_parties"),
        ("besieged", "none", "day", date(2016, 1, 5), "besieger_named"),
        ("controlled", "none", "month", date(2016, 1, 5), "precision_aligned"),
        ("controlled", "none", "year", date(2016, 2, 1), "precision_aligned"),
    ],
)
async def test_inconsistent_events_are_rejected(
    conn: AsyncConnection, status: str, parties: str, precision: str, on: date, constraint: str
) -> None:
    place, actor = await make_place(conn), await make_actor(conn)
    party_ids = {"none": [], "one": [actor]}[parties]
    with pytest.raises(IntegrityError, match=constraint):
        async with conn.begin_nested():
            await make_event(conn, place, on, actor, status=status, parties=party_ids, precision=precision)


async def test_controlled_event_without_holder_is_rejected(conn: AsyncConnection) -> None:
    place = await make_place(conn)
    with pytest.raises(IntegrityError, match="holder_named"):
        async with conn.begin_nested():
            await make_event(conn, place, date(2016, 1, 1), None)
