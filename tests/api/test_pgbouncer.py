"""The app through a real PgBouncer in transaction pooling (TERRITORY_PGBOUNCER): every read route, a batch write,
the shared rate limit and the event stream, with two server connections shared by every client connection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import StreamingResponse

from app.db.engine import create_engine
from app.main import create_app
from app.settings import Settings
from tests.api.test_contracts import VARIANTS, check, fill, get_routes, query_for, samples
from tests.api.test_events_stream import Stream
from tests.conftest import database_on, new_key
from tests.live_server import serving
from tests.pgbouncer import pgbouncer

RATE_PER_MINUTE = 60  # bursts of 6, then 1 a second


@pytest.fixture(scope="session")
def bouncer(server_url: str) -> Iterator[str]:
    """PgBouncer's URL to the test server (any database name)."""
    with pgbouncer(server_url) as url:
        yield url


def database_of(engine: AsyncEngine) -> str:
    return str(engine.url.database)


@pytest.fixture
async def through_bouncer(bouncer: str, write_engine: AsyncEngine) -> AsyncIterator[str]:
    """The app under uvicorn, with its own pools, on the write database through PgBouncer; its base URL."""
    direct = write_engine.url.render_as_string(hide_password=False)
    settings = Settings(
        database_url=database_on(bouncer, database_of(write_engine)),
        pgbouncer=True,
        listen_database_url=direct.replace("postgresql+asyncpg://", "postgresql://"),
        rate_limit_per_minute=RATE_PER_MINUTE,
        # The test's requests all wait their turn on PgBouncer's two server connections: a busy machine is no 503.
        pool_timeout_seconds=30,
        feed_heartbeat_seconds=0.3,
    )
    async with serving(create_app(settings), lifespan="on") as url:
        yield url


def route_requests(values: dict[str, list[str]]) -> list[tuple[Any, str, dict[str, str]]]:
    document = create_app().openapi()
    walk = [
        (route, path, query_for(route, document))
        for route in get_routes()
        if route.original_route.response_class is not StreamingResponse
        for path in fill(route.path, values)
    ]
    variants = [(next(r for r in get_routes() if r.path == url.split("?")[0]), url, {}) for url in VARIANTS]
    return walk + variants


async def test_every_read_route_answers_through_pgbouncer_many_at_once(through_bouncer: str) -> None:
    async with httpx.AsyncClient(base_url=through_bouncer, timeout=30) as http:
        requests = route_requests(await samples(http))
        # Sixteen at a time, three times over: many client transactions take turns on PgBouncer's two server
        # connections, so a statement prepared on one and run on another would fail here.
        at_once = asyncio.Semaphore(16)

        async def get(path: str, params: dict[str, str]) -> httpx.Response:
            async with at_once:
                return await http.get(path, params=params)

        answers = await asyncio.gather(*(get(path, params) for _ in range(3) for _, path, params in requests))
        for (route, _, _), answer in zip(requests * 3, answers, strict=True):
            check(route, answer)
        assert len(requests) >= 30
        assert (await http.get("/readyz")).status_code == 200


async def test_a_batch_the_rate_limit_and_the_stream_work_through_pgbouncer(
    through_bouncer: str, write_engine: AsyncEngine
) -> None:
    headers = {"Authorization": f"Bearer {await new_key(write_engine, 'ingest')}"}
    events = [
        {
            "external_id": f"bouncer-{n}",
            "place": "palmyra",
            "date": f"2018-01-0{n + 1}",
            "kind": "held",
            "actor": "syrian-army",
            "status": "controlled",
            "sources": ["wp-palmyra-offensive-2015-05"],
        }
        for n in range(3)
    ]
    async with httpx.AsyncClient(base_url=through_bouncer, timeout=30) as http:
        async with http.stream("GET", "/v1/events/stream?place=palmyra") as response:
            stream = Stream(response)
            await stream.listening()
            batch = await http.post("/v1/events/batch", json={"events": events}, headers=headers)
            assert batch.status_code == 201, batch.text
            assert batch.json()["created"] == 3
            # The stream listens on the primary directly (TERRITORY_LISTEN_DATABASE_URL) and hears the commit.
            heard = [await stream.message() for _ in events]
            assert {m["data"]["external_id"] for m in heard} == {e["external_id"] for e in events}
        listed = (await http.get("/v1/events", params={"place": "palmyra", "from": "2018-01-01"})).json()
        assert {item["external_id"] for item in listed["items"]} == {e["external_id"] for e in events}

        # The tokens taken through PgBouncer were committed (not rolled back with the transaction that took them):
        # more requests spend the burst of 6 and are refused. A token comes back each second, so the requests go
        # 8 at once (spent faster than refilled unless a round takes 8 s), and what was admitted is bounded by the
        # time it took: tokens given back would let every request through.
        async def post() -> int:
            return (await http.post("/v1/events/batch", json={"events": events}, headers=headers)).status_code

        statuses: list[int] = []
        started = time.monotonic()
        for _ in range(4):
            statuses += await asyncio.gather(*(post() for _ in range(8)))
            burst, per_second = RATE_PER_MINUTE / 10, RATE_PER_MINUTE / 60
            assert statuses.count(200) <= burst + per_second * (time.monotonic() - started), statuses
            if 429 in statuses:
                break
        assert set(statuses) == {200, 429}, statuses


async def test_session_settings_hold_in_each_transaction_through_pgbouncer(bouncer: str) -> None:
    engine = create_engine(bouncer, pool_size=2, server_settings={"lock_timeout": "1234"}, pgbouncer=True)
    try:
        for _ in range(3):
            async with engine.connect() as connection:
                shown = await connection.scalar(text("SELECT current_setting('lock_timeout')"))
                jit = await connection.scalar(text("SELECT current_setting('jit')"))
            assert (shown, jit) == ("1234ms", "off")
    finally:
        await engine.dispose()


async def test_without_the_setting_pgbouncer_refuses_the_sessions_settings(bouncer: str) -> None:
    engine = create_engine(bouncer, pool_size=1, server_settings={"lock_timeout": "1234"})
    try:
        with pytest.raises(Exception, match="unsupported startup parameter"):
            async with engine.connect() as connection:
                await connection.scalar(text("SELECT 1"))
    finally:
        await engine.dispose()


def test_pgbouncer_needs_the_primarys_own_address_for_listen() -> None:
    with pytest.raises(ValueError, match="TERRITORY_LISTEN_DATABASE_URL"):
        Settings(database_url="postgresql://x@127.0.0.1:6432/territory", pgbouncer=True)
