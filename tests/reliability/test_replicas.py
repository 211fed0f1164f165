"""Read replicas: a primary and a streaming standby of it (`pg_basebackup -R`), two clusters of this module's own
behind a real uvicorn. Plain reads come from the replica, writes from the primary; a read naming its write's
position sees it however slow the replication; a replica or a primary going away fails no read."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.db import migrate
from app.db.engine import create_engine
from app.localdb import APP_ROLE, LocalCluster
from app.services import keys
from tests.live_server import serving
from tests.reliability.conftest import TIMEOUT, app_for
from tests.reliability.test_outages import assert_unavailable

POSITION = "Territory-LSN"
SERVED_BY = "Territory-Served-By"
CHECK = 0.2  # seconds between two checks of the replica, in these tests


@pytest.fixture(scope="module")
def clusters() -> Iterator[tuple[LocalCluster, LocalCluster]]:
    """A migrated primary and its standby (the app's role, no superuser, as `territory up` makes them)."""
    folder = Path(tempfile.mkdtemp(prefix="territory-replicas-"))
    folder.chmod(0o755)
    primary = LocalCluster.throwaway(folder, role=APP_ROLE)
    replica = None
    try:
        migrate.upgrade(primary.ensure_running())
        replica = primary.standby(folder / "standby")
        yield primary, replica
    finally:
        for cluster in (replica, primary):
            if cluster is not None:
                cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
async def ingest_key(clusters: tuple[LocalCluster, LocalCluster]) -> str:
    engine = create_engine(clusters[0].url, pool_size=1)
    try:
        async with engine.begin() as connection:
            _, secret = await keys.create_key(connection, name="replicas", scope="ingest")
    finally:
        await engine.dispose()
    return secret


@asynccontextmanager
async def api(
    clusters: tuple[LocalCluster, LocalCluster], **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the primary with the standby as its read replica, under uvicorn. No answer is kept (the tests
    watch which database answers each read) unless a test asks for the cache."""
    primary, replica = clusters
    settings = {
        "replica_check_seconds": CHECK,
        "pool_timeout_seconds": 1,
        "response_cache_bytes": 0,
        **settings,
    }
    app = app_for(primary.url, read_database_urls=replica.url, **settings)
    async with (
        serving(app, lifespan="on", timeout=TIMEOUT) as base,
        httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as http,
    ):
        yield http


# Replay delays long against a loaded machine: a write and the read after it come well within SLOWED, and the
# watcher (a check a second) sees more than a second of lag well within LAGGED.
SLOWED = "4s"
LAGGED = "6s"


async def set_apply_delay(replica: LocalCluster, delay: str) -> None:
    """recovery_min_apply_delay on the standby: it receives the WAL at once and replays it that much later."""
    connection = await asyncpg.connect(replica.admin_url)
    try:
        await connection.execute(f"ALTER SYSTEM SET recovery_min_apply_delay = '{delay}'")
        await connection.execute("SELECT pg_reload_conf()")
    finally:
        await connection.close()


async def add_source(http: httpx.AsyncClient, key: str, slug: str) -> httpx.Response:
    response = await http.post(
        "/v1/sources",
        json={"slug": slug, "title": f"Report {slug}", "publisher": "Test"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 201, response.text
    return response


async def until(condition: Any, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"still not {what} after {timeout} s"
        await asyncio.sleep(0.05)


async def replica_state(http: httpx.AsyncClient) -> dict[str, Any]:
    ready = (await http.get("/readyz")).json()
    return dict(ready["replicas"][0])


async def test_reads_come_from_the_replica_and_writes_from_the_primary(
    clusters: tuple[LocalCluster, LocalCluster], ingest_key: str
) -> None:
    async with api(clusters) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["replicas"][0] | {"checked_at": None} == {
            "name": "replica-1",
            "state": "healthy",
            "lag_seconds": 0.0,
            "position": ready.json()["replicas"][0]["position"],
            "error": None,
            "checked_at": None,
        }
        read = await http.get("/v1/sources")
        assert read.status_code == 200
        assert read.headers[SERVED_BY] == "replica-1"
        assert POSITION in read.headers["vary"]
        connection = await asyncpg.connect(clusters[0].url)
        try:
            before = await connection.fetchval("SELECT pg_current_wal_insert_lsn()::text")
            written = await add_source(http, ingest_key, "replica-first")
            assert SERVED_BY not in written.headers
            # The primary's WAL position after the commit: past where it stood before the write, and not past
            # where it stands now.
            position = written.headers[POSITION]
            assert await connection.fetchval(
                "SELECT $1::text::pg_lsn < $2::text::pg_lsn AND $2::text::pg_lsn <= pg_current_wal_insert_lsn()",
                before,
                position,
            )
        finally:
            await connection.close()
        # A read inside a write (the answer of the write) comes from the primary: it holds what was written.
        assert written.json()["slug"] == "replica-first"
        # The event stream listens on the primary (a standby delivers no notification) and resumes there.
        async with http.stream("GET", "/v1/events/stream", params={"since": "0"}) as stream:
            assert (stream.status_code, stream.headers[SERVED_BY]) == (200, "primary")


async def test_a_read_naming_its_write_sees_it_however_slow_the_replication(
    clusters: tuple[LocalCluster, LocalCluster], ingest_key: str
) -> None:
    replica = clusters[1]
    await set_apply_delay(replica, SLOWED)
    try:
        # Lag allowed past the delay: the slowed replica stays healthy and keeps serving plain reads.
        async with api(clusters, max_replica_lag_seconds=30) as http:
            for number in range(3):
                slug = f"slow-{number}"
                position = (await add_source(http, ingest_key, slug)).headers[POSITION]
                seen = await http.get(f"/v1/sources/{slug}", headers={POSITION: position})
                assert seen.status_code == 200, seen.text
                assert seen.headers[SERVED_BY] == "primary"
                # Without the position, the replica answers, and has not replayed the write yet: the test
                # would pass without the header only if the replication were not slowed.
                stale = await http.get(f"/v1/sources/{slug}")
                assert (stale.status_code, stale.headers[SERVED_BY]) == (404, "replica-1")

            async def replayed() -> bool:
                answer = await http.get(f"/v1/sources/{slug}", headers={POSITION: position})
                return answer.status_code == 200 and answer.headers[SERVED_BY] == "replica-1"

            # Once it has replayed that far, the replica serves the read naming the position.
            await until(replayed, "served by the replica after the replay", timeout=30)
            bad = await http.get("/v1/sources", headers={POSITION: "not-a-position"})
            assert bad.status_code == 400
            assert bad.json()["errors"][0] | {"reason": ""} == {
                "location": "header",
                "field": POSITION,
                "reason": "",
            }
    finally:
        await set_apply_delay(replica, "0")


async def test_an_answer_a_lagging_replica_gave_is_not_kept_as_the_new_version(
    clusters: tuple[LocalCluster, LocalCluster], ingest_key: str
) -> None:
    """With the cache on: the list a slowed replica answers after a write is of the version before it, so it is
    not kept under the version the process follows; once the replica has replayed, the list has the write."""
    replica = clusters[1]
    await set_apply_delay(replica, SLOWED)
    try:
        async with api(clusters, max_replica_lag_seconds=30, response_cache_bytes=1 << 20) as http:
            await add_source(http, ingest_key, "kept-not-stale")
            first = await http.get("/v1/sources")
            assert first.headers[SERVED_BY] == "replica-1"
            assert "kept-not-stale" not in first.text  # the replica has not replayed it: the test's premise

            async def fresh() -> bool:
                return "kept-not-stale" in (await http.get("/v1/sources")).text

            await until(fresh, "the list with the write, once the replica has replayed it", timeout=30)
    finally:
        await set_apply_delay(replica, "0")


async def test_an_idle_primary_does_not_make_its_replica_lag(
    clusters: tuple[LocalCluster, LocalCluster], ingest_key: str
) -> None:
    # The last replayed commit ages while nothing is written: measured by it alone, the replica would be
    # "lagging" past one second. It has replayed all the primary has, so it is current.
    async with api(clusters, max_replica_lag_seconds=1) as http:
        await add_source(http, ingest_key, "then-nothing")
        await asyncio.sleep(2.5)
        state = await replica_state(http)
        assert (state["state"], state["lag_seconds"]) == ("healthy", 0.0)
        assert (await http.get("/v1/actors")).headers[SERVED_BY] == "replica-1"


async def test_a_lagging_replica_is_skipped_until_it_catches_up(
    clusters: tuple[LocalCluster, LocalCluster], ingest_key: str
) -> None:
    replica = clusters[1]
    async with api(clusters, max_replica_lag_seconds=1) as http:
        await set_apply_delay(replica, LAGGED)
        try:
            await add_source(http, ingest_key, "lagged")

            async def lagging() -> bool:
                return (await replica_state(http))["state"] == "lagging"

            await until(lagging, "lagging", timeout=30)
            assert (await http.get("/v1/sources/lagged")).headers[SERVED_BY] == "primary"
        finally:
            await set_apply_delay(replica, "0")

        async def healthy() -> bool:
            return (await replica_state(http))["state"] == "healthy"

        await until(healthy, "healthy again", timeout=30)
        caught_up = await http.get("/v1/sources/lagged")
        assert (caught_up.status_code, caught_up.headers[SERVED_BY]) == (200, "replica-1")


async def test_replica_stopped_reads_answer_from_the_primary(
    clusters: tuple[LocalCluster, LocalCluster],
) -> None:
    replica = clusters[1]
    # Checks far apart: the reads right after the stop still go to the replica, fail there, and are answered
    # again on the primary (the watcher has not noticed yet).
    async with api(clusters, replica_check_seconds=30) as http:
        for _ in range(3):  # the replica's pool holds connections that the stop breaks
            assert (await http.get("/v1/actors")).headers[SERVED_BY] == "replica-1"
        await asyncio.to_thread(replica.stop)
        try:
            answers = [await http.get("/v1/actors") for _ in range(10)]
            assert [(a.status_code, a.headers[SERVED_BY]) for a in answers] == [(200, "primary")] * 10
            state = await replica_state(http)
            assert state["state"] == "down"
        finally:
            await asyncio.to_thread(replica.start)
    async with api(clusters) as http:  # back: the replica serves again

        async def served_by_replica() -> bool:
            return (await http.get("/v1/actors")).headers[SERVED_BY] == "replica-1"

        await until(served_by_replica, "served by the restarted replica")


async def test_primary_stopped_reads_answer_from_the_replica_writes_503(
    clusters: tuple[LocalCluster, LocalCluster], ingest_key: str
) -> None:
    primary = clusters[0]
    async with api(clusters) as http:
        await add_source(http, ingest_key, "before-the-outage")
        await asyncio.to_thread(primary.stop)
        try:
            for _ in range(5):
                read = await http.get("/v1/sources/before-the-outage")
                assert (read.status_code, read.headers[SERVED_BY]) == (200, "replica-1")
            write = await http.post(
                "/v1/sources",
                json={"slug": "during-the-outage", "title": "Lost", "publisher": "Test"},
                headers={"Authorization": f"Bearer {ingest_key}"},
            )
            assert_unavailable(write)
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["status"] == "read-only"
            assert ready.json()["replicas"][0]["state"] == "healthy"
        finally:
            await asyncio.to_thread(primary.start)
