"""A real PostGIS for the tests: TEST_DATABASE_URL when set, otherwise a throwaway cluster for the session.

The schema comes from the real migrations and the article's dataset from the real seed, once per session. Each
test then runs inside a transaction that is rolled back, so tests are independent and fast.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.api.deps import read_connection
from app.db import migrate
from app.db.engine import create_engine
from app.db.reads import ReadConnection
from app.localdb import LocalCluster
from app.main import create_app
from app.services import keys
from app.services.seed import seed
from app.settings import Settings


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """postgresql:// URL of a server we may create databases on (its default database is `territory`)."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
        return
    folder = Path(tempfile.mkdtemp(prefix="territory-test-"))
    folder.chmod(0o755)  # the postgres user must reach the cluster folder inside it
    cluster = LocalCluster.throwaway(folder)
    try:
        yield cluster.ensure_running()
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def database_on(server_url: str, name: str) -> str:
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """An empty database of its own, for tests of the migrations themselves."""
    admin = create_engine(database_on(server_url, "postgres"), pool_size=1).execution_options(
        isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as connection:
        await connection.execute(text("DROP DATABASE IF EXISTS territory_migrations"))
        await connection.execute(text("CREATE DATABASE territory_migrations"))
    yield database_on(server_url, "territory_migrations")
    await admin.dispose()


@pytest.fixture(scope="session")
async def engine(server_url: str) -> AsyncIterator[AsyncEngine]:
    """The test database, migrated to head and seeded with the article's dataset."""
    await _run_blocking(migrate.upgrade, server_url)
    engine = create_engine(server_url, pool_size=4)
    async with engine.begin() as connection:
        await seed(connection)
    yield engine
    await engine.dispose()


async def _run_blocking(function: Any, *args: Any) -> Any:
    # Alembic's env.py runs its own event loop (asyncio.run), so it must run outside ours.
    return await asyncio.to_thread(function, *args)


@pytest.fixture
async def conn(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that is rolled back after the test."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            await transaction.rollback()


@pytest.fixture
async def client(engine: AsyncEngine, conn: AsyncConnection) -> AsyncIterator[httpx.AsyncClient]:
    """The ASGI app, reading through the test's connection (and so seeing its uncommitted rows)."""
    app = create_app(Settings(database_url="postgresql://unused/unused"))
    app.state.engine = engine
    app.state.read_engine = engine
    app.state.keys_engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def test_connection() -> AsyncConnection:
        # The production read connection, pinned to the test's transaction (rolled back after the test).
        return ReadConnection(engine, conn)

    app.dependency_overrides[read_connection] = test_connection
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://territory.test") as http:
        yield http


# Writes commit, so their tests get a database of their own: a copy of a migrated and seeded template
# (CREATE DATABASE ... TEMPLATE is a file copy, far faster than migrating and seeding again).
TEMPLATE = "territory_template"


@pytest.fixture(scope="session")
async def template_database(server_url: str) -> AsyncIterator[str]:
    admin = create_engine(database_on(server_url, "postgres"), pool_size=1).execution_options(
        isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as connection:
        await connection.execute(text(f"DROP DATABASE IF EXISTS {TEMPLATE}"))
        await connection.execute(text(f"CREATE DATABASE {TEMPLATE}"))
    url = database_on(server_url, TEMPLATE)
    await _run_blocking(migrate.upgrade, url)
    template = create_engine(url, pool_size=1)
    async with template.begin() as connection:
        await seed(connection)
    await template.dispose()  # a template must have no connections when it is copied
    yield url
    await admin.dispose()


_copies = iter(range(1, 1_000_000))


@pytest.fixture
async def write_engine(server_url: str, template_database: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh copy of the seeded database, dropped after the test: writes really commit."""
    name = f"territory_w{os.getpid()}_{next(_copies)}"
    admin = create_engine(database_on(server_url, "postgres"), pool_size=1).execution_options(
        isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as connection:
        await connection.execute(text(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
    engine = create_engine(database_on(server_url, name), pool_size=10)
    try:
        yield engine
    finally:
        await engine.dispose()
        async with admin.connect() as connection:
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        await admin.dispose()


def app_on(engine: AsyncEngine, **settings: Any) -> Any:
    app = create_app(Settings(database_url="postgresql://unused/unused", **settings))
    app.state.engine = engine
    app.state.read_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    app.state.keys_engine = app.state.read_engine
    return app


@pytest.fixture
async def write_client(write_engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """The ASGI app on its own committed database, as writers use it."""
    transport = httpx.ASGITransport(app=app_on(write_engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://territory.test") as http:
        yield http


async def new_key(engine: AsyncEngine, scope: str, name: str | None = None) -> str:
    async with engine.begin() as connection:
        _, secret = await keys.create_key(connection, name=name or f"test-{scope}", scope=scope)  # type: ignore[arg-type]
    return secret


@pytest.fixture
async def ingest_headers(write_engine: AsyncEngine) -> dict[str, str]:
    """An Authorization header with a fresh `ingest` key on the write database."""
    return {"Authorization": f"Bearer {await new_key(write_engine, 'ingest')}"}


@pytest.fixture
async def admin_headers(write_engine: AsyncEngine) -> dict[str, str]:
    return {"Authorization": f"Bearer {await new_key(write_engine, 'admin')}"}
