"""The read connection (app/db/reads.py): text() statements on asyncpg directly, answering as SQLAlchemy does."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.engine import create_engine, read_only
from app.db.models import Place
from app.db.reads import GENERIC_PLAN, ReadConnection, direct_plan

PLACES = text("SELECT id, slug, name FROM place WHERE kind = :kind ORDER BY id")


@pytest.fixture
async def reads(server_url: str, engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """A read engine of its own (autocommit, as the app's), so its pool can be inspected."""
    own = read_only(create_engine(server_url, pool_size=2))
    yield own
    await own.dispose()


async def test_text_statement_answers_as_sqlalchemy_does(reads: AsyncEngine, conn: AsyncConnection) -> None:
    assert (
        direct_plan(PLACES, {"kind": "city"}, None, conn.dialect) is not None
    )  # it does take the direct path
    expected = (await conn.execute(PLACES, {"kind": "city"})).all()
    rows = (await ReadConnection(reads).execute(PLACES, {"kind": "city"})).all()
    assert rows == expected and len(rows) > 3
    assert [(r.id, r.slug) for r in rows] == [(r.id, r.slug) for r in expected]  # by attribute
    mappings = (await ReadConnection(reads).execute(PLACES, {"kind": "city"})).mappings().all()
    assert [m["slug"] for m in mappings] == [r.slug for r in expected]
    assert await ReadConnection(reads).scalar(PLACES, {"kind": "city"}) == expected[0].id
    assert await ReadConnection(reads).scalar(PLACES, {"kind": "no such kind"}) is None
    with pytest.raises(NoResultFound):
        (await ReadConnection(reads).execute(PLACES, {"kind": "no such kind"})).one()
    with pytest.raises(MultipleResultsFound):
        (await ReadConnection(reads).execute(PLACES, {"kind": "city"})).one()


async def test_json_columns_are_decoded_as_under_sqlalchemy(reads: AsyncEngine) -> None:
    statement = text("SELECT json_build_object('n', CAST(:n AS int)) AS doc")
    assert (await ReadConnection(reads).execute(statement, {"n": 7})).one().doc == {"n": 7}


async def test_constructs_and_options_go_through_sqlalchemy(reads: AsyncEngine) -> None:
    core = select(Place.slug).where(Place.slug == "palmyra")
    assert direct_plan(core, None, None, reads.dialect) is None
    assert await ReadConnection(reads).scalar(core) == "palmyra"
    assert direct_plan(PLACES, {"kind": "city"}, {"yield_per": 10}, reads.dialect) is None


async def test_a_statement_marked_generic_plan_runs_with_it_and_leaves_the_connection_as_it_was(
    server_url: str,
) -> None:
    own = read_only(
        create_engine(server_url, pool_size=1, max_overflow=0)
    )  # one connection: every statement's
    mode = text("SELECT current_setting('plan_cache_mode') AS mode, CAST(:n AS int) AS n")
    generic = mode.execution_options(**{GENERIC_PLAN: True})
    try:
        plan = direct_plan(generic, {"n": 1}, None, own.dialect)
        assert plan is not None and plan[2]  # the direct path, with its generic plan
        reads = ReadConnection(own)
        for n in range(3):
            assert tuple((await reads.execute(generic, {"n": n})).one()) == ("force_generic_plan", n)
            assert tuple((await reads.execute(mode, {"n": n})).one()) == ("auto", n)  # SET LOCAL: not kept
        plans = await reads.execute(
            text("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = :sql"),
            {"sql": plan[0]},
        )
        # One prepared statement (asyncpg keeps one per text): planned generically when marked, for its values when not.
        assert tuple(plans.one()) == (3, 3)
    finally:
        await own.dispose()


async def test_each_statement_returns_its_connection_to_the_pool(reads: AsyncEngine) -> None:
    connection = ReadConnection(reads)
    for _ in range(5):  # more statements than the pool has connections (2): each gave its own back
        await connection.execute(PLACES, {"kind": "city"})
    assert reads.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_broken_connection_is_dropped_and_the_next_read_gets_a_new_one(
    reads: AsyncEngine, conn: AsyncConnection
) -> None:
    whoami = text("SELECT pg_backend_pid() AS pid")
    first = (await ReadConnection(reads).execute(whoami)).one().pid
    # Another pool's connection ends the session of the one the read pool got back.
    assert (await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})).scalar()
    failed = False
    for _ in range(2):  # the pool may hand out the terminated one first: that read fails, once
        try:
            pid = (await ReadConnection(reads).execute(whoami)).one().pid
        except (asyncpg.PostgresError, asyncpg.InterfaceError):
            assert not failed
            failed = True
            continue
        assert pid != first
    assert (await ReadConnection(reads).execute(whoami)).one().pid != first


async def test_no_prepared_statement_is_kept_for_pgbouncer(server_url: str, engine: AsyncEngine) -> None:
    unprepared = read_only(create_engine(server_url, pool_size=1, pgbouncer=True), pgbouncer=True)
    try:
        for kind in ("city", "town"):
            assert (await ReadConnection(unprepared).execute(PLACES, {"kind": kind})).all()
        async with unprepared.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            kept = text(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%place WHERE ' || 'kind%'"
            )
            named = (await connection.execute(kept)).scalar()
        assert driver is not None and driver._stmt_cache.get_max_size() == 0
        assert named == 0  # the reads' statement did not outlive its execution on the session
    finally:
        await unprepared.dispose()
