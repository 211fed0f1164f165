"""The live feed: Server-Sent Events from a real uvicorn server on loopback (ASGITransport does not stream), fed by
writes committed through other connections; resumed with Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import create_engine
from tests.api.test_events_feed import key_of, post_batch, write_event
from tests.conftest import app_on, database_on
from tests.live_server import serving

TIMEOUT = 10  # seconds any one wait may take: a broken stream fails the test instead of hanging it
HEARTBEAT = 0.3


@pytest.fixture
async def live_server(write_engine: AsyncEngine) -> AsyncIterator[str]:
    """The app under uvicorn on 127.0.0.1 and a free port, in this event loop; stopped after the test."""
    async with serving(app_on(write_engine, feed_heartbeat_seconds=HEARTBEAT), timeout=TIMEOUT) as url:
        yield url


class Stream:
    """Reads Server-Sent Events blocks: {'id', 'event', 'data', 'retry', 'comment'} as they come."""

    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        self.lines = response.aiter_lines()

    async def block(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        async with asyncio.timeout(TIMEOUT):
            async for line in self.lines:
                if line == "":
                    if fields:
                        return fields
                    continue
                name, _, value = line.partition(":")
                fields["comment" if name == "" else name] = value.strip()
        raise AssertionError("the stream ended")

    async def listening(self) -> None:
        """The retry hint, then the first comment: the stream listens from here on."""
        assert await self.block() == {"retry": "2000"}
        assert await self.block() == {"comment": "keep-alive"}

    async def message(self) -> dict[str, Any]:
        """The next event (keep-alives skipped), its data parsed."""
        while "comment" in (block := await self.block()):
            pass
        return {**block, "data": json.loads(block["data"])}

    async def messages_until_quiet(self) -> list[dict[str, Any]]:
        """Every event until a keep-alive: the stream had nothing more to send for a heartbeat."""
        received = []
        while "comment" not in (block := await self.block()):
            received.append({**block, "data": json.loads(block["data"])})
        return received


async def feed_connections(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        count = await connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = 'territory-feed' AND datname = current_database()"
            )
        )
    return int(count or 0)


async def test_stream_delivers_commits_then_resumes_after_last_event_id(
    live_server: str,
    write_client: httpx.AsyncClient,
    ingest_headers: dict[str, str],
    write_engine: AsyncEngine,
) -> None:
    async with httpx.AsyncClient(base_url=live_server, timeout=TIMEOUT) as http:
        async with (
            http.stream("GET", "/v1/events/stream") as response,
            http.stream("GET", "/v1/events/stream") as other,
        ):
            stream = Stream(response)
            await stream.listening()
            await Stream(other).listening()
            assert await feed_connections(write_engine) == 1  # one listening connection for every stream

            [first] = await post_batch(write_client, ingest_headers, range(0, 1))
            created = await stream.message()
            assert created["event"] == "created" and created["data"]["id"] == first
            assert created["id"] == str(created["data"]["position"])

            patched = await write_client.patch(
                f"/v1/events/{first}", json={"notes": "seen live"}, headers=ingest_headers
            )
            assert patched.status_code == 200
            corrected = await stream.message()
            assert (corrected["event"], corrected["data"]["id"]) == ("corrected", first)
            assert corrected["data"]["version"] == 2 and corrected["data"]["notes"] == "seen live"

        later = await post_batch(write_client, ingest_headers, range(1, 3))
        # As a reconnecting EventSource does: the original URL (since=0 here) and the last id, which wins.
        async with http.stream(
            "GET", "/v1/events/stream", params={"since": 0}, headers={"Last-Event-ID": corrected["id"]}
        ) as response:
            stream = Stream(response)
            await stream.listening()
            assert await feed_connections(write_engine) == 1  # the same connection listens on
            replayed = await stream.messages_until_quiet()
            assert [m["data"]["id"] for m in replayed] == later
            assert all(m["event"] == "created" for m in replayed)

            # Then the live ones, after the replay: nothing twice, nothing skipped.
            [last] = await post_batch(write_client, ingest_headers, range(3, 4))
            assert (await stream.message())["data"]["id"] == last


async def test_stream_hands_out_commits_in_commit_order_whatever_stays_open(
    live_server: str,
    write_client: httpx.AsyncClient,
    ingest_headers: dict[str, str],
    write_engine: AsyncEngine,
    server_url: str,
) -> None:
    key = await key_of(write_engine)
    elsewhere = create_engine(database_on(server_url, "postgres"), pool_size=1)
    async with (
        httpx.AsyncClient(base_url=live_server, timeout=TIMEOUT) as http,
        http.stream("GET", "/v1/events/stream") as response,
        elsewhere.connect() as other,
    ):
        stream = Stream(response)
        await stream.listening()
        # A transaction open in another database of the server, with an id: it holds nothing back.
        await other.begin()
        await other.execute(text("SELECT pg_current_xact_id()"))
        async with write_engine.connect() as slow:
            await slow.begin()
            slow_id = await write_event(slow, key, 1)  # written first, committed last
            [fast_id] = await post_batch(write_client, ingest_headers, range(2, 3))
            fast = await stream.message()
            assert fast["data"]["id"] == fast_id
            await slow.commit()
        slow_message = await stream.message()
        assert slow_message["data"]["id"] == slow_id
        assert int(slow_message["id"]) > int(fast["id"])
        await other.rollback()
    await elsewhere.dispose()


async def test_stream_filters_by_place_and_replays_from_the_beginning(
    live_server: str, write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    palmyra = (await write_client.get("/v1/events", params={"place": "palmyra", "limit": 1000})).json()
    async with (
        httpx.AsyncClient(base_url=live_server, timeout=TIMEOUT) as http,
        http.stream("GET", "/v1/events/stream", params={"place": "Tadmur", "since": 0}) as response,
    ):
        stream = Stream(response)
        await stream.listening()
        replayed = await stream.messages_until_quiet()
        assert [m["data"] for m in replayed] == palmyra["items"]

        created = await post_batch(write_client, ingest_headers, range(0, 6))  # palmyra: 0 and 3
        live = [await stream.message(), await stream.message()]
        assert [m["data"]["id"] for m in live] == [created[0], created[3]]
        assert await stream.messages_until_quiet() == []


async def test_stream_refuses_bad_positions_and_unknown_places_before_it_starts(
    write_client: httpx.AsyncClient,
) -> None:
    for headers, params, status, field in [
        ({"Last-Event-ID": "abc"}, {}, 400, "Last-Event-ID"),
        ({"Last-Event-ID": "999999999"}, {}, 400, "Last-Event-ID"),
        ({}, {"since": "-1"}, 400, "since"),
    ]:
        response = await write_client.get("/v1/events/stream", headers=headers, params=params)
        assert (
            response.status_code == status and response.headers["content-type"] == "application/problem+json"
        )
        assert response.json()["errors"][0]["field"] == field
    unknown = await write_client.get("/v1/events/stream", params={"place": "Palmira"})
    assert unknown.status_code == 404 and unknown.json()["suggestions"][0]["slug"] == "palmyra"
    actor = await write_client.get("/v1/events/stream", params={"actor": "nobody"})
    assert actor.status_code == 404
