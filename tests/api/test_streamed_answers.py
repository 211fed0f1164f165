"""The whole map and bbox-less pages of changes are streamed (app/api/streams.py): the same bytes as built whole,
sent a batch at a time (chunked, gzip compressed as it goes), tagged by the data version, and cut short on a
failure mid-stream."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import zlib
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.api.caching import ResponseCache
from app.db.queries.control import changes_chunks, changes_json, control_map_chunks, control_map_json
from app.db.queries.filters import ChangesFilter, ControlFilter, Page
from app.db.queries.pages import page_body, page_chunks
from tests.api.test_http import kept_before_history  # noqa: F401 - a fixture the as_of cases use
from tests.api.test_polling import client_of, following, statements
from tests.conftest import app_on, new_key
from tests.live_server import serving

AT = date(2016, 12, 20)
MAP = "/v1/control?at=2016-12-20"
CHANGES = "/v1/changes?from=2016-01-01&to=2017-06-30"
SETTLED = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.usefixtures("kept_before_history")
@pytest.mark.parametrize(
    "where",
    [
        ControlFilter(at=AT),
        ControlFilter(at=AT, actor="islamic-state"),
        ControlFilter(at=AT, coalition="iraq-coalition"),
        ControlFilter(at=AT, kinds=("city",)),
        ControlFilter(at=AT, confidence="confirmed"),
        ControlFilter(at=AT, as_of=SETTLED),
        ControlFilter(at=AT, actor="islamic-state", kinds=("airbase",)),  # no feature at all
        ControlFilter(at=date(1990, 1, 1)),  # nothing known yet
    ],
)
async def test_the_streamed_map_is_the_map_postgresql_builds_whole(
    conn: AsyncConnection, where: ControlFilter
) -> None:
    whole = await control_map_json(conn, where)
    chunks = [chunk async for chunk in await control_map_chunks(conn, where, batch=2)]
    assert b"".join(chunks) == whole
    features = len(json.loads(whole)["features"])
    assert len(chunks) == 2 + (features + 1) // 2  # the envelope's two ends, and one part per batch


def pages() -> list[tuple[ChangesFilter, int, list[Any] | None]]:
    window = {"start": date(2016, 1, 1), "end": date(2017, 6, 30)}
    return [
        (ChangesFilter(**window), 500, None),
        (ChangesFilter(**window), 3, None),  # a next link
        (ChangesFilter(**window), 3, [3]),  # the page after place 3
        (ChangesFilter(**window, actor="islamic-state"), 2, None),
        (ChangesFilter(**window, confidence="confirmed"), 500, None),
        (ChangesFilter(**window, as_of=SETTLED), 4, None),
        (ChangesFilter(start=date(1990, 1, 1), end=date(1990, 2, 1)), 500, None),  # none
        (ChangesFilter(start=date(1990, 1, 1), end=date(1990, 2, 1), actor="islamic-state"), 5, None),
    ]


@pytest.mark.usefixtures("kept_before_history")
@pytest.mark.parametrize(("where", "limit", "after"), pages())
async def test_a_streamed_page_of_changes_is_the_page_built_whole(
    conn: AsyncConnection, where: ChangesFilter, limit: int, after: list[Any] | None
) -> None:
    page = Page(limit=limit, link=lambda key: f"/v1/changes?cursor={key[0]}", after=after)
    whole = await changes_json(conn, where, page)
    streamed = b"".join([chunk async for chunk in await changes_chunks(conn, where, page, batch=2)])
    assert streamed == whole
    if limit == 3 and after is None:
        assert json.loads(whole)["next"] is not None  # the case tests the link


async def test_page_chunks_write_what_page_body_writes() -> None:
    class Row:
        def __init__(self, id: int | None, item: str) -> None:
            self.id, self.item = id, item

    async def batches(rows: list[Row]) -> Any:
        for start in range(0, len(rows), 2):
            yield rows[start : start + 2]

    page = Page(limit=3, link=lambda key: f"next after {key}")
    head, tail = {"from": "x", "n": 1}, {"position": 7}
    for items in ([], ['{"a" : 1}'], ['{"a" : 1}', "[2]", "3"], ['{"a" : 1}', "[2]", "3", "4", "5"]):
        rows = [Row(None, "")] + [Row(n, item) for n, item in enumerate(items, 1)]
        more = len(items) > page.limit
        whole = page_body(items[: page.limit], [page.limit] if more else None, page, head=head, tail=tail)
        chunks = page_chunks(batches(rows), page, head=head, tail=tail)
        assert b"".join([chunk async for chunk in chunks]) == whole


async def test_the_whole_map_comes_with_a_version_etag_and_revalidates(
    client: httpx.AsyncClient, conn: AsyncConnection
) -> None:
    first = await client.get(MAP)
    assert first.status_code == 200
    assert first.content == await control_map_json(conn, ControlFilter(at=AT))
    assert "content-length" not in first.headers  # streamed
    assert first.headers["etag"].startswith('"v')  # of the data version the snapshot saw, not a hash
    assert first.headers["cache-control"] == "public, no-cache"
    again = await client.get(MAP, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    other_day = await client.get(
        "/v1/control?at=2016-12-10", headers={"If-None-Match": first.headers["etag"]}
    )
    assert other_day.status_code == 200 and other_day.headers["etag"] != first.headers["etag"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/control?at=2016-12-20&actor=nobody-at-all", "actor"),
        ("/v1/control?at=2016-12-20&coalition=nobody-at-all", "coalition"),
        ("/v1/changes?from=2016-01-01&to=2017-01-01&actor=nobody-at-all", "actor"),
        ("/v1/changes?from=2016-01-01&to=2017-01-01&limit=0", "limit"),
        ("/v1/control?at=2016-02-30", "at"),
    ],
)
async def test_a_bad_parameter_is_a_problem_before_any_byte(
    client: httpx.AsyncClient, path: str, field: str
) -> None:
    response = await client.get(path)
    assert response.status_code in (400, 404), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.text


def chunked(raw: bytes) -> tuple[bytes, list[bytes], bool]:
    """An HTTP/1.1 answer read to its end: its head, its chunks, and whether the last (empty) chunk came."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    chunks = []
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return head, chunks, True
        chunks.append(rest[:size])
        rest = rest[size + 2 :]
    return head, chunks, False


async def get_raw(url: str, path: str, headers: str = "", receive_buffer: int | None = None) -> Any:
    """A GET over a socket of our own: the answer's bytes as they came (reader and writer for reading on)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect((host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}\r\n".encode())
    await writer.drain()
    return reader, writer


async def test_over_http_the_whole_map_is_chunked_a_batch_at_a_time_and_gzip_as_it_goes(
    write_engine: AsyncEngine,
) -> None:
    async with write_engine.connect() as connection:
        whole = await control_map_json(connection, ControlFilter(at=AT))
    async with serving(app_on(write_engine, stream_batch_rows=3)) as url:
        reader, writer = await get_raw(url, MAP)
        head, chunks, ended = chunked(await reader.read())
        writer.close()
        assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in head.lower()
        assert b"content-length" not in head.lower()
        assert ended and b"".join(chunks) == whole
        assert len(chunks) >= 22 // 3  # a part per batch of 3 places (22 of them)

        reader, writer = await get_raw(url, MAP, "Accept-Encoding: gzip\r\n")
        head, chunks, ended = chunked(await reader.read())
        writer.close()
        assert b"content-encoding: gzip" in head.lower() and ended
        assert gzip.decompress(b"".join(chunks)) == whole
        # Each part can be inflated on arrival (a sync flush each): nothing waits for the end.
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        assert len(chunks) >= 22 // 3
        assert inflater.decompress(chunks[0]).startswith(b'{"type" : "FeatureCollection"')


async def test_with_the_version_known_a_304_costs_no_query_and_a_write_changes_the_tag(
    write_engine: AsyncEngine,
) -> None:
    app = app_on(write_engine)
    versions = await following(app)
    async with client_of(app) as http:
        first = await http.get(MAP)
        assert first.status_code == 200 and "content-length" not in first.headers
        with statements(write_engine) as sent:
            again = await http.get(MAP, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and sent == []
        before = versions.current
        async with write_engine.begin() as connection:
            await connection.execute(text("UPDATE place SET population = 1 WHERE slug = 'palmyra'"))
        async with asyncio.timeout(10):
            while versions.current == before:
                await asyncio.sleep(0.01)
        after = await http.get(MAP, headers={"If-None-Match": first.headers["etag"]})
        assert after.status_code == 200 and after.headers["etag"] != first.headers["etag"]


async def test_the_response_cache_keeps_a_small_streamed_answer_and_none_of_a_large_one(
    write_engine: AsyncEngine,
) -> None:
    app = app_on(write_engine, response_cache_bytes=16_000)  # keeps answers up to 4,000 bytes
    await following(app)
    store: ResponseCache = next(
        m.kwargs["store"] for m in app.user_middleware if m.kwargs.get("store") is not None
    )
    small = "/v1/changes?from=2016-12-01&to=2016-12-31&limit=1"
    async with client_of(app) as http:
        identity = {"Accept-Encoding": "identity"}  # (gzip, the whole map of the test data fits)
        large = await http.get(MAP, headers=identity)
        assert large.status_code == 200 and len(large.content) > 4_000
        assert store.size == 0 and not store.entries  # passed through, none of it held
        first = await http.get(small, headers=identity)
        assert first.status_code == 200 and len(first.content) < 4_000
        with statements(write_engine) as sent:
            again = await http.get(small, headers=identity)
        assert sent == [] and again.content == first.content  # kept whole, answered again
        assert len(store.entries) == 1


async def test_a_read_key_is_still_asked_for(write_engine: AsyncEngine) -> None:
    app = app_on(write_engine, require_read_key=True)
    key = {"Authorization": f"Bearer {await new_key(write_engine, 'read')}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        for path in (MAP, CHANGES):
            refused = await http.get(path)
            assert refused.status_code == 401
            assert refused.headers["content-type"] == "application/problem+json"
            answered = await http.get(path, headers=key)
            assert answered.status_code == 200
            assert answered.headers["cache-control"] == "private, no-cache"
            again = await http.get(path, headers={**key, "If-None-Match": answered.headers["etag"]})
            assert again.status_code == 304
            # The tag is the key's: another key's client does not get a 304 for it.
            other = {"Authorization": f"Bearer {await new_key(write_engine, 'read')}"}
            stranger = await http.get(path, headers={**other, "If-None-Match": answered.headers["etag"]})
            assert stranger.status_code == 200


async def test_a_failure_mid_stream_cuts_the_answer_short(
    write_engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    async with write_engine.begin() as connection:  # enough places for the stream to outlast the buffers
        await connection.execute(
            text("""INSERT INTO place (slug, name, kind, geom, country_code)
                    SELECT 'filler-' || n, 'Filler ' || n, 'village',
                           ST_SetSRID(ST_MakePoint(36 + n / 10000.0, 35), 4326), 'SY'
                    FROM generate_series(1, 30000) AS n""")
        )
    async with serving(app_on(write_engine, stream_batch_rows=100)) as url:
        # A client that reads nothing more after the head: the server's buffers fill and the stream waits,
        # its cursor open half-way.
        reader, writer = await get_raw(url, MAP, "Accept-Encoding: identity\r\n", receive_buffer=4096)
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        # The stream's backend: the one connection in a transaction (the first batch is read: the head came).
        waiting = text(
            """SELECT pid FROM pg_stat_activity WHERE datname = current_database()
               AND xact_start IS NOT NULL AND state <> 'idle' AND pid <> pg_backend_pid()"""
        )
        async with write_engine.connect() as connection:
            async with asyncio.timeout(30):
                while not (pids := (await connection.execute(waiting)).scalars().all()):
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # blocked on the client, not about to finish
            await connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid"),
                {"pids": pids},
            )
        async with asyncio.timeout(20):
            rest = await reader.read()
        writer.close()
    _, chunks, ended = chunked(head + rest)
    assert not ended  # no last chunk: the client knows the answer is cut short
    body = b"".join(chunks)
    assert body.startswith(b'{"type" : "FeatureCollection"') and len(body) > 0
    with pytest.raises(ValueError):
        json.loads(body)
    assert any("failed after" in record.getMessage() for record in caplog.records)
