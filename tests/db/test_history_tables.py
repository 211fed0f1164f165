"""Each versioned table's `<table>_version` repeats every column of it: the trigger copies the columns both have,
so a column added to a table alone would go unversioned (and as_of reads, shadowing the table from the model's
columns, would fail)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import migrate
from app.db.engine import create_engine
from app.db.queries.as_of import VERSIONED
from app.services.seed import seed

COLUMNS = text("""
    SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a
    WHERE a.attrelid = CAST(:table AS regclass) AND a.attnum > 0 AND NOT a.attisdropped
""")


async def test_every_version_table_holds_every_column_of_its_table(conn: AsyncConnection) -> None:
    for table in VERSIONED:
        columns: dict[str, str] = dict((await conn.execute(COLUMNS, {"table": table})).all())
        kept: dict[str, str] = dict((await conn.execute(COLUMNS, {"table": f"{table}_version"})).all())
        kept["id"] = kept.pop(f"{table}_id")  # the row's id, under its version table's name for it
        missing = {name: kind for name, kind in columns.items() if kept.get(name) != kind}
        assert missing == {}, f"{table}_version lacks {missing}"


async def test_every_row_has_its_open_version(conn: AsyncConnection) -> None:
    for table in VERSIONED:
        unversioned = await conn.scalar(
            text(
                f"SELECT count(*) FROM {table} AS t WHERE NOT EXISTS "
                f"(SELECT 1 FROM {table}_version AS v WHERE v.{table}_id = t.id AND upper_inf(v.recorded))"
            )
        )
        assert unversioned == 0, table


async def test_the_upgrade_keeps_each_existing_row_as_a_version_since_before_history(
    fresh_database: str,
) -> None:
    # The revision before history (the seed of today needs the name forms of 0007).
    await asyncio.to_thread(migrate.upgrade, fresh_database, "0010_shared_limits")
    engine = create_engine(fresh_database, pool_size=1)
    try:
        async with engine.begin() as connection:
            await seed(connection)
        await asyncio.to_thread(migrate.upgrade, fresh_database)
        async with engine.connect() as connection:
            for table in VERSIONED:
                since = "t.recorded_at" if table in ("territory", "front_line") else "NULL"
                wrong = await connection.scalar(
                    text(
                        f"SELECT count(*) FROM {table} AS t LEFT JOIN {table}_version AS v ON v.{table}_id = t.id "
                        f"WHERE v.id IS NULL OR v.version <> 1 OR v.change <> 'created' OR v.position IS NULL "
                        f"OR lower(v.recorded) IS DISTINCT FROM {since} OR NOT upper_inf(v.recorded)"
                    )
                )
                assert wrong == 0, table
    finally:
        await engine.dispose()
