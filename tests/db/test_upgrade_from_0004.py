"""A database made by main at revision 0004 and kept (a `.data/pg`, a Docker volume), upgraded to head, is the same
as a fresh database at head: same catalogue, periods still the derivation of the events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db import migrate, sql
from app.db.engine import create_engine
from app.db.queries import references
from app.services.seed import seed
from tests.conftest import database_on
from tests.db.catalogue import catalogue, catalogue_of, differences
from tests.factories import make_actor, make_event

# The bodies the first 0002 installed, before it was edited in place: what a database made then still holds.
EARLIER_0002_BODIES = Path(__file__).with_name("sql") / "earlier_0002_bodies.sql"
AT_0004 = "territory_at_0004"

# Periods stored but not derived, and derived but not stored: both empty when the store is right.
PERIODS_NOT_DERIVED = """
SELECT count(*) FROM (
    (SELECT place_id, actor_id, status, party_ids, valid, control_event_id, confidence, disputed, rival_event_ids
     FROM control_period
     EXCEPT ALL SELECT * FROM derive_control_periods(NULL, NULL))
    UNION ALL
    (SELECT * FROM derive_control_periods(NULL, NULL)
     EXCEPT ALL SELECT place_id, actor_id, status, party_ids, valid, control_event_id, confidence, disputed, rival_event_ids
     FROM control_period)
) AS mismatch
"""


async def _admin(server_url: str) -> AsyncEngine:
    return create_engine(database_on(server_url, "postgres"), pool_size=1).execution_options(
        isolation_level="AUTOCOMMIT"
    )


@pytest.fixture(scope="module")
async def seeded_at_0004(server_url: str) -> AsyncIterator[str]:
    """A database migrated to 0004 by the migrations as they are, seeded with the article's dataset (a template).

    Today's seed writes only what 0004 already has; should it come to need a later revision's schema, seed this
    database with SQL written for 0004 instead (0004 never changes, so such SQL would not either).
    """
    admin = await _admin(server_url)
    async with admin.connect() as connection:
        await connection.execute(text(f"DROP DATABASE IF EXISTS {AT_0004}"))
        await connection.execute(text(f"CREATE DATABASE {AT_0004}"))
    url = database_on(server_url, AT_0004)
    await asyncio.to_thread(migrate.upgrade, url, "0004")
    engine = create_engine(url, pool_size=1)
    # The seed resolves its slugs with the lookups of today, whose name forms need 0007's columns: here it
    # resolves them as 0004 did (a slug or a spelling, which is all the seed's files use).
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(references.RESOLVE, "place", references.resolve_statement("place", forms=False))
        async with engine.begin() as connection:
            await seed(connection)
    await engine.dispose()
    yield url
    async with admin.connect() as connection:
        await connection.execute(text(f"DROP DATABASE IF EXISTS {AT_0004} WITH (FORCE)"))
    await admin.dispose()


@pytest.fixture
async def kept_at_0004(server_url: str, seeded_at_0004: str) -> AsyncIterator[str]:
    """A copy of the seeded 0004 database, dropped after the test."""
    name = f"{AT_0004}_kept"
    admin = await _admin(server_url)
    async with admin.connect() as connection:
        await connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        await connection.execute(text(f"CREATE DATABASE {name} TEMPLATE {AT_0004}"))
    yield database_on(server_url, name)
    async with admin.connect() as connection:
        await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    await admin.dispose()


@pytest.mark.parametrize("made_by", ["main", "an earlier 0002"])
async def test_a_database_at_0004_upgraded_to_head_is_a_fresh_database_at_head(
    made_by: str, kept_at_0004: str, conn: AsyncConnection
) -> None:
    fresh = await catalogue(conn)
    kept = create_engine(kept_at_0004, pool_size=1)
    try:
        if made_by == "an earlier 0002":
            async with kept.begin() as connection:
                await connection.run_sync(
                    lambda sync: sql.install(
                        sync, {"earlier": EARLIER_0002_BODIES.read_text(encoding="utf-8")}
                    )
                )
                # The database stands for one made by the first 0002: its functions differ from head's.
                assert differences(
                    {"function": fresh["function"]}, await catalogue(connection, ("function",))
                )
        await asyncio.to_thread(migrate.upgrade, kept_at_0004)
        assert migrate.head_revision() == await migrate.current_revision(kept)
        assert not (diff := differences(fresh, await catalogue_of(kept_at_0004))), (
            f"(-: a fresh database at head, +: 0004 upgraded)\n{diff}"
        )

        async with kept.begin() as connection:
            stored = await connection.scalar(text("SELECT count(*) FROM control_period"))
            assert stored == await conn.scalar(text("SELECT count(*) FROM control_period")) > 0
            assert await connection.scalar(text(PERIODS_NOT_DERIVED)) == 0
            # Writes after the upgrade keep the periods derived (the triggers call head's recomputation).
            place = await connection.scalar(text("SELECT id FROM place WHERE slug = 'raqqa'"))
            await make_event(connection, place, date(2018, 1, 1), await make_actor(connection))
            await connection.execute(
                text("DELETE FROM control_event WHERE place_id = :place AND occurred_on < '2016-01-01'"),
                {"place": place},
            )
            assert await connection.scalar(text(PERIODS_NOT_DERIVED)) == 0
    finally:
        await kept.dispose()
