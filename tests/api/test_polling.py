"""Polling answered without the database: ETags and kept answers per data version, and never a stale answer.

These run against committed databases (writes must commit for the version to move) with the data version
followed on a real listening connection, as the app's lifespan does."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from functools import partial
from typing import Any
from unittest.mock import patch

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api import caching
from app.api.caching import CHANNEL, FILL, DataVersion, Entry, ResponseCache
from app.db import reads
from app.main import create_app
from app.services import feed
from app.services.keys import revoke_key, split_key
from app.settings import Settings
from tests.conftest import app_on, new_key
from tests.live_server import serving

PLACE = "/v1/places/palmyra"
MAP = "/v1/control?at=2016-06-01&bbox=35,33,40,37"


async def following(app: Any, timeout: float = 10) -> DataVersion:
    """Start following the data version as the lifespan does, and wait until it is known."""
    versions: DataVersion = app.state.data_version
    versions.start(feed.shared_listener(app.state))
    async with asyncio.timeout(timeout):
        while versions.current is None:
            await asyncio.sleep(0.01)
    return versions


async def caught_up(versions: DataVersion, engine: AsyncEngine, timeout: float = 10) -> None:
    """Wait until the process holds the database's version (its notifications heard, however busy the machine)."""
    latest = await version_of(engine)
    async with asyncio.timeout(timeout):
        while versions.current is None or versions.current < latest:
            await asyncio.sleep(0.01)


@contextlib.contextmanager
def acks_awaited_for(seconds: float) -> Iterator[None]:
    """A write's answer waits up to `seconds` for the other processes: what is tested is that it waits for them,
    not that a loaded machine acknowledges within the production bound (ACK_TIMEOUT)."""
    with patch.object(caching, "ACK_TIMEOUT", seconds):
        yield


@contextlib.asynccontextmanager
async def client_of(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://territory.test") as http:
            yield http
    finally:
        await app.state.data_version.stop()
        await feed.shared_listener(app.state).close()


@contextlib.contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every statement the app's engine sends while the block runs: through SQLAlchemy, and the reads run on
    asyncpg directly (app/db/reads.py)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    direct = reads.fetch

    async def fetch(driver: Any, sql: str, values: list[Any]) -> Any:
        seen.append(sql)
        return await direct(driver, sql, values)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        with patch.object(reads, "fetch", fetch):
            yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def version_of(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text("SELECT version FROM data_version")))


async def set_population(engine: AsyncEngine, population: int) -> None:
    """A write from outside the app (another process, the command line): committed, notified."""
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE place SET population = :p WHERE slug = 'palmyra'"), {"p": population}
        )


async def test_every_committed_write_moves_the_version_once(write_engine: AsyncEngine) -> None:
    before = await version_of(write_engine)
    async with write_engine.begin() as connection:  # three statements on two tables: one version
        await connection.execute(text("UPDATE place SET population = 1 WHERE slug = 'palmyra'"))
        await connection.execute(text("UPDATE place SET population = 2 WHERE slug = 'palmyra'"))
        await connection.execute(text("UPDATE actor SET color = '#010203' WHERE slug = 'syrian-army'"))
    assert await version_of(write_engine) == before + 1
    with contextlib.suppress(RuntimeError):
        async with write_engine.begin() as connection:  # rolled back: no version
            await connection.execute(text("UPDATE place SET population = 3 WHERE slug = 'palmyra'"))
            raise RuntimeError
    async with write_engine.begin() as connection:  # a read-only transaction: no version
        await connection.execute(text("SELECT count(*) FROM place"))
    assert await version_of(write_engine) == before + 1


async def test_a_repeated_request_and_its_304_are_answered_without_a_query(write_engine: AsyncEngine) -> None:
    app = app_on(write_engine)
    await following(app)
    async with client_of(app) as http:
        with statements(write_engine) as sent:
            first = await http.get(MAP)
        assert first.status_code == 200 and sent, "the first answer is read"
        etag = first.headers["etag"]
        assert etag.startswith('"v')
        with statements(write_engine) as sent:
            again = await http.get(MAP)
            not_modified = await http.get(MAP, headers={"If-None-Match": etag})
            head = await http.head(MAP)
        assert sent == []
        assert (again.status_code, again.content, again.headers["etag"]) == (200, first.content, etag)
        assert not_modified.status_code == 304 and not_modified.content == b""
        assert not_modified.headers["etag"] == etag
        assert not_modified.headers["cache-control"] == first.headers["cache-control"] == "public, no-cache"
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == first.headers["content-length"]


async def test_gzip_answers_are_kept_apart_and_their_304_carries_the_gzip_tag(
    write_engine: AsyncEngine,
) -> None:
    app = app_on(write_engine)
    await following(app)
    async with client_of(app) as http:
        gzip = {"Accept-Encoding": "gzip"}
        identity = {"Accept-Encoding": "identity"}
        zipped = await http.get(MAP, headers=gzip)
        plain = await http.get(MAP, headers=identity)
        assert zipped.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
        assert zipped.headers["etag"] == plain.headers["etag"][:-1] + '-gzip"'
        assert zipped.content == plain.content  # httpx decodes
        with statements(write_engine) as sent:
            zipped_again = await http.get(MAP, headers=gzip)
            plain_again = await http.get(MAP, headers=identity)
            revalidated = await http.get(MAP, headers={**gzip, "If-None-Match": zipped.headers["etag"]})
        assert sent == []
        assert (
            zipped_again.headers["content-encoding"] == "gzip"
            and "content-encoding" not in plain_again.headers
        )
        assert revalidated.status_code == 304 and revalidated.headers["etag"] == zipped.headers["etag"]


async def test_a_write_through_the_api_is_in_the_next_answer_of_every_process(
    write_engine: AsyncEngine, server_url: str
) -> None:
    """Two uvicorn servers on one database, each with its own pools and listener, as two workers."""
    url = write_engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    key = await new_key(write_engine, "ingest")
    servers = [create_app(Settings(database_url=url)) for _ in range(2)]
    async with (
        serving(servers[0], lifespan="on") as first,
        serving(servers[1], lifespan="on") as second,
        httpx.AsyncClient(timeout=30) as http,
    ):
        with acks_awaited_for(5):
            # Both follow the version, and each heard the other say which it holds (its own word counts as one).
            async with asyncio.timeout(30):
                while any(
                    app.state.data_version.current is None or len(app.state.data_version.acks) < 2
                    for app in servers
                ):
                    await asyncio.sleep(0.01)
            for population in range(60_001, 60_011):
                for base in (first, second):  # both hold the answer, and answer it again without a query
                    for _ in range(2):
                        assert (await http.get(base + PLACE)).status_code == 200
                writer = (first, second)[population % 2]
                written = await http.patch(
                    writer + PLACE,
                    json={"population": population},
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert written.status_code == 200, written.text
                for base in (first, second):
                    assert (await http.get(base + PLACE)).json()["population"] == population


async def test_the_writing_process_answers_its_write_only_once_it_knows_the_version_it_made(
    write_engine: AsyncEngine,
) -> None:
    """Even when the notification comes late (a busy listener), the writer's next answer is the new one."""
    app = app_on(write_engine)
    versions = await following(app)
    await notified_late(app, 1.0)
    key = {"Authorization": f"Bearer {await new_key(write_engine, 'ingest')}"}
    await versions.read()  # the key's version, and the new connection
    async with client_of(app) as http:
        assert (await http.get(PLACE)).json()["population"] == 51323
        assert (await http.patch(PLACE, json={"population": 4_321}, headers=key)).status_code == 200
        assert (await http.get(PLACE)).json()["population"] == 4_321


async def notified_late(app: Any, seconds: float) -> None:
    """From now on the app hears of each new version `seconds` late (a busy process, a slow network)."""
    listener = feed.shared_listener(app.state)
    loop = asyncio.get_running_loop()
    for index, watcher in enumerate(listener.watchers):
        if watcher.channel == CHANNEL:
            late = partial(loop.call_later, seconds, watcher.notified)
            listener.watchers[index] = replace(
                watcher, notified=lambda payload, late=late: late(payload) and None
            )
    assert listener.connection is not None
    listener.drop(listener.connection)  # listening again, with the late watcher
    await app.state.data_version.read()


async def test_a_write_is_answered_once_every_other_process_holds_its_version(
    write_engine: AsyncEngine,
) -> None:
    writer, reader = app_on(write_engine), app_on(write_engine)
    writing, reading = await following(writer), await following(reader)
    await notified_late(reader, 0.3)
    assert reader.state.listener.connection is not None
    reader_pid = reader.state.listener.connection.get_server_pid()
    async with asyncio.timeout(10):  # the writer knows the reader follows the version
        while reader_pid not in writing.acks:
            await asyncio.sleep(0.01)
    key = {"Authorization": f"Bearer {await new_key(write_engine, 'ingest')}"}
    async with client_of(writer) as to_writer, client_of(reader) as to_reader:
        await caught_up(reading, write_engine)  # the key's version, late
        for population in (1_111, 2_222):
            assert (await to_reader.get(PLACE)).status_code == 200
            await asyncio.sleep(0.05)
            assert (await to_reader.get(PLACE)).status_code == 200
            with acks_awaited_for(10):
                answer = await to_writer.patch(PLACE, json={"population": population}, headers=key)
            assert answer.status_code == 200
            assert reading.current == await version_of(write_engine)
            assert (await to_reader.get(PLACE)).json()["population"] == population


async def test_the_etag_of_an_answer_is_the_same_in_every_process(write_engine: AsyncEngine) -> None:
    apps = [app_on(write_engine) for _ in range(2)]
    for app in apps:
        await following(app)
    async with client_of(apps[0]) as one, client_of(apps[1]) as two:
        etag = (await one.get(PLACE)).headers["etag"]
        assert (await two.get(PLACE, headers={"If-None-Match": etag})).status_code == 304
        # The other process had not answered it: its first 304 was read, and is kept for the next.
        with statements(write_engine) as sent:
            again = await two.get(PLACE, headers={"If-None-Match": etag})
        assert (again.status_code, again.headers["etag"], sent) == (304, etag, [])
        assert (await two.get(PLACE)).status_code == 200, "a 200 is still read and built"


async def test_a_write_from_outside_reaches_the_cache_through_its_notification(
    write_engine: AsyncEngine,
) -> None:
    # No check within the test (it reads the version too): only the notification can bring the new one.
    app = app_on(write_engine, data_version_check_seconds=600)
    versions = await following(app)
    async with client_of(app) as http:
        assert (await http.get(PLACE)).json()["population"] == 51323
        before = versions.current
        await set_population(write_engine, 12_345)
        async with asyncio.timeout(10):
            while versions.current == before:
                await asyncio.sleep(0.005)
        assert (await http.get(PLACE)).json()["population"] == 12_345


async def test_a_dropped_listener_stops_the_cache_until_the_version_is_read_again(
    write_engine: AsyncEngine,
) -> None:
    app = app_on(write_engine, data_version_check_seconds=0.2)
    versions = await following(app)
    listener = feed.shared_listener(app.state)
    # The listener connects again only once the test lets it: otherwise, on a busy machine, it could be back and
    # have read the version before the write below, which would then be an outside write heard late (allowed).
    away = asyncio.Event()
    connect = listener._connect

    async def connect_once_allowed() -> None:
        await away.wait()
        await connect()

    async with client_of(app) as http:
        assert (await http.get(PLACE)).json()["population"] == 51323
        with patch.object(listener, "_connect", connect_once_allowed):
            async with write_engine.connect() as connection:
                await connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = 'territory-feed' AND datname = current_database()"
                    )
                )
            async with asyncio.timeout(10):
                while versions.current is not None:
                    await asyncio.sleep(0.01)
            # Written while nobody listens: its notification is never received.
            await set_population(write_engine, 777)
            with statements(write_engine) as sent:
                assert (await http.get(PLACE)).json()["population"] == 777
            assert sent, "not trusted: read from the database"
            assert versions.current is None
            away.set()
            async with asyncio.timeout(10):  # listening again, with the version read after LISTEN
                while versions.current is None:
                    await asyncio.sleep(0.01)
        assert versions.current == await version_of(write_engine)
        assert (await http.get(PLACE)).json()["population"] == 777


async def test_a_listener_that_stops_answering_stops_the_cache_within_twice_the_check(
    write_engine: AsyncEngine,
) -> None:
    """A connection that hangs (its server stopped, a network that drops packets) is given up by the check."""
    check = 1.0  # long against a loaded machine's scheduling delays, so that the bound below says "twice"
    app = app_on(write_engine, data_version_check_seconds=check)
    versions = await following(app)
    listener = feed.shared_listener(app.state)
    assert listener.connection is not None
    backend = listener.connection.get_server_pid()
    os.kill(backend, signal.SIGSTOP)
    try:
        loop = asyncio.get_running_loop()
        stopped = loop.time()
        async with asyncio.timeout(10):
            while versions.current is not None:
                await asyncio.sleep(0.01)
        assert loop.time() - stopped < 2 * check + 0.5
    finally:
        os.kill(backend, signal.SIGCONT)
    async with client_of(app):
        async with asyncio.timeout(10):
            while versions.current is None:
                await asyncio.sleep(0.01)


async def test_private_answers_are_kept_per_key_and_a_hit_still_needs_a_valid_key(
    write_engine: AsyncEngine,
) -> None:
    app = app_on(write_engine, require_read_key=True)
    versions = await following(app)
    one, two = await new_key(write_engine, "read", "one"), await new_key(write_engine, "read", "two")
    await caught_up(versions, write_engine)  # the keys' versions notified
    store: ResponseCache = next(
        m.kwargs["store"] for m in app.user_middleware if m.kwargs.get("store") is not None
    )
    async with client_of(app) as http:
        as_one = {"Authorization": f"Bearer {one}"}
        first = await http.get(PLACE, headers=as_one)
        assert first.status_code == 200 and first.headers["cache-control"].startswith("private")
        with statements(write_engine) as sent:
            assert (await http.get(PLACE, headers=as_one)).status_code == 200
        # The key is admitted (its token of the rate all workers share: one call on the primary), the answer is
        # not read again.
        assert len(sent) == 1 and "admit_api_key" in sent[0], sent
        assert (await http.get(PLACE)).status_code == 401
        assert (await http.get(PLACE, headers={"If-None-Match": first.headers["etag"]})).status_code == 401
        assert (await http.get(PLACE, headers={"Authorization": "Bearer terr_abc_wrong"})).status_code == 401
        # Both headers: the Bearer key is the one checked (and remembered), as the routes read it.
        both = {"X-API-Key": "terr_abc_chosen", "Authorization": f"Bearer {one}"}
        assert (await http.get(PLACE, headers=both)).status_code == 200
        assert (await http.get(PLACE, headers={"X-API-Key": "terr_abc_chosen"})).status_code == 401
        entries = len(store.entries)
        as_two = await http.get(PLACE, headers={"X-API-Key": two})
        assert as_two.status_code == 200 and len(store.entries) == entries + 1, "an entry of its own"
        assert as_two.headers["etag"] != first.headers["etag"]
        async with write_engine.begin() as connection:
            prefix = split_key(one)
            assert prefix is not None
            await revoke_key(connection, prefix=prefix)
        await caught_up(versions, write_engine)
        assert (await http.get(PLACE, headers=as_one)).status_code == 401, "revoked: the version moved"


def entry(size: int) -> Entry:
    return Entry([], b"x" * size, '"v"', size)


def test_the_cache_keeps_at_most_its_capacity_dropping_the_least_recently_used() -> None:
    store = ResponseCache(10_000)
    for n in range(10):
        store.put(1, ("k", n), entry(2_000))
        assert store.size <= 10_000
    assert [key[1] for key in store.entries] == [5, 6, 7, 8, 9]
    assert store.get(1, ("k", 5)) is not None  # used: now the most recent
    store.put(1, ("k", 10), entry(2_000))
    assert [key[1] for key in store.entries] == [7, 8, 9, 5, 10]
    store.put(1, ("big",), entry(3_000))  # over a quarter of the capacity: not kept
    assert store.get(1, ("big",)) is None
    store.put(2, ("k", 11), entry(100))  # a newer version: the older answers are gone
    assert list(store.entries) == [("k", 11)] and store.size == 100
    store.put(1, ("k", 12), entry(100))  # an answer of an older version is not kept
    assert store.get(1, ("k", 12)) is None and store.get(2, ("k", 12)) is None


async def test_through_the_app_the_cache_stays_within_its_setting(write_engine: AsyncEngine) -> None:
    app = app_on(write_engine, response_cache_bytes=40_000)
    await following(app)
    store = next(m.kwargs["store"] for m in app.user_middleware if m.kwargs.get("store") is not None)
    async with client_of(app) as http:
        for day in range(1, 29):
            assert (await http.get(f"/v1/control?at=2016-02-{day:02d}")).status_code == 200
            assert store.size <= 40_000
    assert 0 < len(store.entries) < 28


async def test_with_the_cache_off_etags_are_hashed_from_the_body(write_engine: AsyncEngine) -> None:
    app = app_on(write_engine, response_cache_bytes=0)
    async with client_of(app) as http:
        response = await http.get(PLACE)
        assert not response.headers["etag"].startswith('"v')
        assert FILL not in response.request.extensions


@pytest.mark.parametrize("path", [PLACE, MAP])
async def test_answers_from_the_cache_are_the_answers_of_the_routes(
    write_engine: AsyncEngine, path: str
) -> None:
    cached_app, plain_app = app_on(write_engine), app_on(write_engine, response_cache_bytes=0)
    await following(cached_app)
    async with client_of(cached_app) as cached_http, client_of(plain_app) as plain_http:
        await cached_http.get(path)
        kept, plain = await cached_http.get(path), await plain_http.get(path)
    assert kept.content == plain.content
    assert {k: v for k, v in kept.headers.items() if k != "etag"} == {
        k: v for k, v in plain.headers.items() if k != "etag"
    }
