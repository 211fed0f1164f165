"""The rate limits are counted in the primary, so every worker together allows the configured rate, not N times it
(app/db/sql/admit_api_key.sql)."""

from __future__ import annotations

import asyncio
import time

import httpx
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import create_engine
from tests.conftest import app_on, new_key
from tests.live_server import serving

PER_MINUTE = 120  # bursts of 12, then 2 a second


async def test_two_workers_together_allow_the_configured_rate_within_one_token(
    write_engine: AsyncEngine,
) -> None:
    key = await new_key(write_engine, "read")
    headers = {"Authorization": f"Bearer {key}"}
    # Two servers, each with its own pools and nothing in memory in common: all they share is the database.
    url = write_engine.url.render_as_string(hide_password=False)
    engines = [create_engine(url, pool_size=4) for _ in "ab"]
    apps = [app_on(engine, rate_limit_per_minute=PER_MINUTE, require_read_key=True) for engine in engines]
    try:
        async with serving(apps[0]) as first, serving(apps[1]) as second:
            async with httpx.AsyncClient(headers=headers, timeout=20) as http:
                statuses: list[int] = []
                first_answer: float | None = None

                async def ask(base: str) -> None:
                    nonlocal first_answer
                    response = await http.get(f"{base}/v1/places/palmyra")
                    first_answer = first_answer or time.monotonic()
                    assert response.status_code in (200, 429), response.text
                    if response.status_code == 429:
                        assert int(response.headers["retry-after"]) >= 1
                    statuses.append(response.status_code)

                # Both connected first (without the key: no token spent), so that a slow first round does not widen
                # the bounds below.
                for base in (first, second):
                    assert (
                        await http.get(f"{base}/readyz", headers={"Authorization": ""})
                    ).status_code == 200
                started = last_sent = time.monotonic()
                for _ in range(8):  # 8 rounds of 6 requests to each server at once
                    last_sent = time.monotonic()
                    await asyncio.gather(*(ask(base) for base in (first, second) for _ in range(6)))
                ended = time.monotonic()
    finally:
        for engine in engines:
            await engine.dispose()
    allowed = statuses.count(200)
    assert first_answer is not None
    burst, per_second = PER_MINUTE / 10, PER_MINUTE / 60
    # The buckets' clock is the database's: its calls fall between the first answer and the last request.
    least = burst + per_second * max(0.0, last_sent - first_answer)
    most = burst + per_second * (ended - started)
    assert least - 1 <= allowed <= most + 1, (allowed, least, most)
    # Counted per process, each would have allowed at least `least - 1`: twice that, over however long the run took
    # (a fixed "twice the burst" would be reached by one shared bucket refilling through a slow run).
    assert allowed < 2 * (least - 1), (allowed, least)


async def test_wrong_keys_are_counted_for_an_address_across_workers(write_engine: AsyncEngine) -> None:
    apps = [app_on(write_engine, wrong_keys_per_minute=30) for _ in "ab"]  # bursts of 3 between them
    wrong = {"Authorization": "Bearer terr_000000000000_not-a-key"}
    statuses = []
    for n in range(6):
        transport = httpx.ASGITransport(app=apps[n % 2])
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            statuses.append((await http.post("/v1/events", json={}, headers=wrong)).status_code)
    assert statuses == [401, 401, 401, 429, 429, 429]


async def test_a_limit_counted_nowhere_refuses_keyed_requests_and_leaves_open_reads_alone(
    write_engine: AsyncEngine, ingest_headers: dict[str, str], server_url: str
) -> None:
    """The limits' database away: a keyed request is 503 with Retry-After (its key cannot be checked either), and a
    read without a key never asks it."""
    app = app_on(write_engine)
    nowhere = create_engine(make_url(server_url).set(port=9).render_as_string(hide_password=False))
    app.state.keys_engine = nowhere.execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            refused = await http.post("/v1/events", json={}, headers=ingest_headers)
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert int(refused.headers["retry-after"]) >= 1
            assert (await http.get("/v1/places/palmyra")).status_code == 200
    finally:
        await nowhere.dispose()


async def test_buckets_live_in_an_unlogged_table(write_engine: AsyncEngine) -> None:
    async with write_engine.connect() as connection:
        persistence = await connection.scalar(
            text("SELECT relpersistence::text FROM pg_class WHERE relname = 'rate_bucket'")
        )
    assert persistence == "u"
