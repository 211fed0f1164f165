"""The migration chain itself, on an empty database: upgrade, downgrade, upgrade again."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from app.db import migrate
from app.db.engine import create_engine
from tests.db.catalogue import catalogue_of, differences

TABLES = {
    "actor",
    "coalition",
    "coalition_membership",
    "place",
    "place_name",
    "source",
    "control_event",
    "control_event_source",
    "control_period",
    "territory",
    "front_line",
}


async def tables_in(url: str) -> set[str]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


async def test_migrations_upgrade_downgrade_upgrade(fresh_database: str) -> None:
    await asyncio.to_thread(migrate.upgrade, fresh_database)
    assert TABLES <= await tables_in(fresh_database)

    await asyncio.to_thread(migrate.downgrade, fresh_database, "base")
    assert not TABLES & await tables_in(fresh_database)

    await asyncio.to_thread(migrate.upgrade, fresh_database)
    assert TABLES <= await tables_in(fresh_database)
    engine = create_engine(fresh_database, pool_size=1)
    try:
        assert await migrate.current_revision(engine) == migrate.head_revision()
    finally:
        await engine.dispose()


async def test_downgrade_from_head_to_0004_restores_exactly_what_0004_made(fresh_database: str) -> None:
    # 0004 is the last revision whose functions were strings in the migrations; 0005's downgrade puts them back.
    await asyncio.to_thread(migrate.upgrade, fresh_database)
    at_head = await catalogue_of(fresh_database)
    await asyncio.to_thread(migrate.downgrade, fresh_database, "0004")
    downgraded = await catalogue_of(fresh_database)

    await asyncio.to_thread(migrate.downgrade, fresh_database, "base")
    await asyncio.to_thread(migrate.upgrade, fresh_database, "0004")
    assert not (diff := differences(await catalogue_of(fresh_database), downgraded)), (
        f"(-: made by 0004, +: downgraded to 0004)\n{diff}"
    )
    await asyncio.to_thread(migrate.upgrade, fresh_database)
    assert not (diff := differences(at_head, await catalogue_of(fresh_database))), (
        f"(-: head, +: head again after a downgrade)\n{diff}"
    )
