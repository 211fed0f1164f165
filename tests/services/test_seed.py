"""The article's dataset: loaded idempotently, and saying what the sources say."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.services.seed import seed
from tests.factories import make_actor

TABLES = (
    "source",
    "actor",
    "coalition",
    "coalition_membership",
    "place",
    "place_name",
    "control_event",
    "control_event_source",
    "control_period",
)


async def fingerprint(conn: AsyncConnection) -> dict[str, str]:
    """Every row of every seeded table, ids and derived periods included, hashed per table."""
    prints = {}
    for table in TABLES:
        prints[table] = await conn.scalar(
            text(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} AS t")
        )
    return prints


async def test_second_seed_changes_nothing(conn: AsyncConnection) -> None:
    before = await fingerprint(conn)
    report = await seed(conn)
    assert not report.changed, report.lines()
    assert await fingerprint(conn) == before


async def test_seed_repairs_an_edited_event_and_recomputes_its_periods(conn: AsyncConnection) -> None:
    await conn.execute(
        text(
            "UPDATE control_event SET occurred_on = '2016-12-20' WHERE external_id = 'palmyra-2016-12-11-is'"
        )
    )
    report = await seed(conn)
    assert report.counts["events"].updated == 1
    since = await conn.scalar(
        text("""
        SELECT lower(cp.valid) FROM control_period AS cp JOIN place AS p ON p.id = cp.place_id
        WHERE p.slug = 'palmyra' AND cp.valid @> DATE '2016-12-15'""")
    )
    assert since == date(2016, 12, 11)


async def holders(conn: AsyncConnection, slug: str) -> list[tuple]:
    rows = await conn.execute(
        text("""
        SELECT a.slug, cp.status, lower(cp.valid), upper(cp.valid)
        FROM control_period AS cp JOIN place AS p ON p.id = cp.place_id LEFT JOIN actor AS a ON a.id = cp.actor_id
        WHERE p.slug = :slug ORDER BY lower(cp.valid)"""),
        {"slug": slug},
    )
    return [tuple(row) for row in rows]


async def test_palmyra_changed_hands_four_times(conn: AsyncConnection) -> None:
    assert await holders(conn, "palmyra") == [
        ("syrian-army", "controlled", date(2011, 3, 15), date(2015, 5, 21)),
        ("islamic-state", "controlled", date(2015, 5, 21), date(2016, 3, 27)),
        ("syrian-army", "controlled", date(2016, 3, 27), date(2016, 12, 11)),
        ("islamic-state", "controlled", date(2016, 12, 11), date(2017, 3, 2)),
        ("syrian-army", "controlled", date(2017, 3, 2), None),
    ]


async def test_azaz_and_mare_were_never_held_by_islamic_state_after_february_2014(
    conn: AsyncConnection,
) -> None:
    for slug in ("azaz", "mare"):
        held_by_is = [
            h
            for h in await holders(conn, slug)
            if h[0] == "islamic-state" and (h[3] is None or h[3] > date(2014, 3, 1))
        ]
        assert held_by_is == [], slug


async def test_deir_ez_zor_airport_never_fell_and_the_city_was_divided(conn: AsyncConnection) -> None:
    airport = await holders(conn, "deir-ez-zor-airport")
    assert {h[0] for h in airport} == {"syrian-army"}
    assert any(h[1] == "besieged" and h[2] <= date(2017, 1, 16) < (h[3] or date.max) for h in airport)
    city = await holders(conn, "deir-ez-zor")
    assert any(h[1] == "contested" and h[2] <= date(2016, 1, 1) < (h[3] or date.max) for h in city)


async def test_every_event_cites_a_source(conn: AsyncConnection) -> None:
    unsourced = await conn.scalar(
        text("""
        SELECT count(*) FROM control_event AS e
        WHERE NOT EXISTS (SELECT 1 FROM control_event_source AS s WHERE s.control_event_id = e.id)""")
    )
    assert unsourced == 0


async def test_seed_keeps_memberships_of_actors_the_files_do_not_list(conn: AsyncConnection) -> None:
    # Memberships added through the API survive `territory up`, which seeds at every start.
    actor_id = await make_actor(conn, "test-militia")
    await conn.execute(
        text("""INSERT INTO coalition_membership (coalition_id, actor_id, valid)
                SELECT id, :actor_id, daterange('2015-01-01', NULL) FROM coalition WHERE slug = 'pro-assad-coalition'"""),
        {"actor_id": actor_id},
    )
    report = await seed(conn)
    assert report.counts["memberships"].created == 0
    kept = await conn.scalar(
        text("SELECT count(*) FROM coalition_membership WHERE actor_id = :actor_id"), {"actor_id": actor_id}
    )
    assert kept == 1
