"""The database going away, and running out of connections: only 200 or 503 with Retry-After, never a 500 or a
dropped connection, and answers again by themselves. On a cluster of their own (tests/reliability/conftest.py),
behind a real uvicorn."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import asyncpg
import httpx
import pytest

from app.localdb import APP_ROLE, LocalCluster
from tests.live_server import serving
from tests.reliability.conftest import FAULT_MAX_CONNECTIONS, TIMEOUT, app_for

LOADERS = 4
DOWN_FOR = 1.5  # seconds the server stays stopped


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["status"] == 503


class Load:
    """Clients reading in a loop until stopped; every answer (or transport error) with the time it came, and
    (`sent`) the time its request was sent: concurrent requests need not be answered in the order they were sent."""

    def __init__(self, base: str, path: str) -> None:
        self.base, self.path = base, path
        self.answers: list[tuple[float, int, httpx.Response | None]] = []
        self.sent: list[float] = []
        self.errors: list[BaseException] = []
        self.running = True

    async def client(self) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=TIMEOUT) as http:
            while self.running:
                sent = time.monotonic()
                try:
                    response = await http.get(self.path)
                except httpx.TransportError as exc:  # a dropped connection: what must not happen
                    self.errors.append(exc)
                    continue
                self.answers.append((time.monotonic(), response.status_code, response))
                self.sent.append(sent)
                if response.status_code != 200:
                    await asyncio.sleep(0.05)  # as a client honouring Retry-After would, only faster

    def statuses(self) -> Counter[int]:
        return Counter(status for _, status, _ in self.answers)


async def run_blocking(function: Any) -> Any:
    return await asyncio.to_thread(function)


async def test_postgres_stopped_and_restarted_under_read_load(fault_cluster: LocalCluster) -> None:
    app = app_for(fault_cluster.url, pool_size=4, write_pool_size=2, pool_timeout_seconds=1)
    async with (
        serving(app, lifespan="on", timeout=TIMEOUT) as base,
        httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as http,
    ):
        load = Load(base, "/v1/actors")
        clients = [asyncio.create_task(load.client()) for _ in range(LOADERS)]
        async with http.stream("GET", "/v1/events/stream") as stream:
            assert stream.status_code == 200
            await asyncio.sleep(0.5)
            await run_blocking(fault_cluster.stop)
            # A stream open when the server went away ends cleanly (its client reconnects and resumes) ...
            async with asyncio.timeout(TIMEOUT):
                async for _ in stream.aiter_raw():
                    pass
        # ... and one asked for while it is away is a 503 before any 200.
        assert_unavailable(await http.get("/v1/events/stream"))
        ready = await http.get("/readyz")
        assert_unavailable(ready)
        assert "cannot be reached" in ready.json()["reason"]
        await asyncio.sleep(DOWN_FOR)
        await run_blocking(fault_cluster.ensure_running)
        up_at = time.monotonic()
        async with asyncio.timeout(TIMEOUT):
            while not any(t > up_at and status == 200 for t, status, _ in load.answers):
                await asyncio.sleep(0.05)
        recovered_in = min(t for t, status, _ in load.answers if t > up_at and status == 200) - up_at
        await asyncio.sleep(0.5)
        load.running = False
        await asyncio.gather(*clients)
        assert (await http.get("/readyz")).status_code == 200
        async with http.stream("GET", "/v1/events/stream") as stream:
            assert stream.status_code == 200

    assert load.errors == []  # no dropped connection
    statuses = load.statuses()
    assert set(statuses) == {200, 503}, statuses  # the outage was seen, and only as 503s
    for _, status, response in load.answers:
        if status == 503:
            assert response is not None
            assert_unavailable(response)
    assert recovered_in < 2.0
    # Once answering again, it keeps answering: the pool replaced its dead connections by itself. (A request sent
    # before the first 200 came may still be answered 503 after it, on a loaded machine.)
    after = [
        (status, response)
        for sent, (_, status, response) in zip(load.sent, load.answers, strict=True)
        if sent > up_at + recovered_in
    ]
    assert after and {status for status, _ in after} == {200}, [r.text for s, r in after if s != 200 and r]
    print(f"\nrestart under load: {dict(statuses)}, 200 again {recovered_in:.2f} s after the server was up")


@pytest.mark.parametrize("cap", [3])
async def test_streams_share_one_connection_and_a_full_server_answers_503(
    fault_cluster: LocalCluster, cap: int
) -> None:
    # No kept answers: the reads below must reach the pool (the cache would answer them without it).
    app = app_for(
        fault_cluster.url,
        pool_size=3,
        write_pool_size=1,
        max_streams=cap,
        pool_timeout_seconds=1,
        response_cache_bytes=0,
    )
    admin = await asyncpg.connect(fault_cluster.admin_url)
    hogs: list[asyncpg.Connection] = []
    try:
        async with (
            serving(app, lifespan="on", timeout=TIMEOUT) as base,
            httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as http,
        ):
            async with asyncio.timeout(TIMEOUT):
                streams = [
                    await http.send(http.build_request("GET", "/v1/events/stream"), stream=True)
                    for _ in range(cap)
                ]
            assert [s.status_code for s in streams] == [200] * cap
            over = await http.get("/v1/events/stream")
            assert_unavailable(over)
            assert over.json()["reason"] == "stream-limit"
            feed_connections = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'territory-feed'"
            )
            assert feed_connections == 1
            # The streams hold no pooled connection: 40 concurrent reads all answer.
            answers = await asyncio.gather(*(http.get("/v1/actors") for _ in range(40)))
            assert {a.status_code for a in answers} == {200}
            for s in streams:
                await s.aclose()
            # A stream that ended frees its place under the cap.
            async with asyncio.timeout(TIMEOUT):
                while True:
                    again = await http.send(http.build_request("GET", "/v1/events/stream"), stream=True)
                    await again.aclose()
                    if again.status_code == 200:
                        break
                    await asyncio.sleep(0.1)

            # Now every connection slot open to the app's role is taken by someone else (with that role).
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'territory-feed'"
            )
            # The read pool's idle connections closed, so the reads below need new ones (3 kept ones, checked out
            # ~15 µs a statement, could serve all 40 within the pool timeout).
            await app.state.read_engine.dispose()
            with pytest.raises(asyncpg.TooManyConnectionsError):
                for _ in range(FAULT_MAX_CONNECTIONS):
                    hogs.append(await asyncpg.connect(fault_cluster.url))
            answers = await asyncio.gather(*(http.get("/v1/actors") for _ in range(40)))
            for answer in answers:
                if answer.status_code != 200:  # the idle pooled connections still serve some
                    assert_unavailable(answer)
            assert any(a.status_code == 503 for a in answers)
            full = await http.get("/v1/events/stream")  # it cannot listen: 503, before any 200
            assert_unavailable(full)
            assert "too many connections" in full.json()["reason"]
            # The app's role is no superuser: the slots reserved for one are left to an administrator.
            administrator = await asyncpg.connect(fault_cluster.admin_url)
            assert await administrator.fetchval("SELECT current_setting('is_superuser')") == "on"
            await administrator.close()
            assert await admin.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = $1", APP_ROLE) is False
            for hog in hogs:
                await hog.close()
            hogs.clear()
            async with asyncio.timeout(TIMEOUT):
                while (await http.get("/v1/actors")).status_code != 200:
                    await asyncio.sleep(0.1)
            async with http.stream("GET", "/v1/events/stream") as stream:
                assert stream.status_code == 200
    finally:
        for hog in hogs:
            await hog.close()
        await admin.close()
