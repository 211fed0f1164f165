"""One statement writing events of many places: the periods stored are the ones derived, even when the periods
compared do not fit in work_mem (recompute_control_periods then spills its hash anti joins to disk; the NOT IN
subplans it had rescanned every period for every row: migrations/versions/20261202_0019_bulk_recompute.py)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.factories import make_actor, make_place

STORED = "SELECT place_id, CAST(valid AS text), actor_id, status, control_event_id FROM control_period WHERE place_id = ANY(:ids)"
DERIVED = """
    SELECT place_id, CAST(valid AS text), actor_id, status, control_event_id
    FROM derive_control_periods(NULL, CAST(:ids AS integer[]))
"""


async def test_one_statement_of_many_places_stores_the_derived_periods_past_work_mem(
    conn: AsyncConnection,
) -> None:
    actors = [await make_actor(conn) for _ in range(3)]
    ids = [await make_place(conn, lon=36 + i / 1000, lat=35) for i in range(300)]
    await conn.execute(text("SET LOCAL work_mem = '64kB'"))
    # Three events a place in one INSERT, then one more each (ending the last period) in a second one.
    for dates in (("2015-01-01", "2015-06-01", "2016-01-01"), ("2015-09-01",)):
        await conn.execute(
            text("""
                INSERT INTO control_event (external_id, place_id, occurred_on, kind, actor_id, status)
                SELECT 'bulk-' || p || '-' || d, p, CAST(d AS date), 'captured',
                       (CAST(:actors AS integer[]))[1 + (p + length(d) + extract(month FROM CAST(d AS date))::int) % 3],
                       'controlled'
                FROM unnest(CAST(:ids AS integer[])) AS p, unnest(CAST(:dates AS text[])) AS d
            """),
            {"ids": ids, "dates": list(dates), "actors": actors},
        )
    stored = sorted(map(tuple, (await conn.execute(text(STORED), {"ids": ids})).all()))
    derived = sorted(map(tuple, (await conn.execute(text(DERIVED), {"ids": ids})).all()))
    assert stored == derived
    assert len({row[0] for row in stored}) == len(ids)
    assert len(stored) >= 2 * len(ids)
