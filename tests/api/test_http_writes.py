"""The HTTP protocol `territory serve` runs (app/http.py): an answer's head and body leave in one write."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import app_on
from tests.live_server import serving

# struct tcp_info (linux/tcp.h): tcpi_data_segs_in, the segments holding data this socket received, is the
# u32 at this offset (Linux 4.6 and later).
DATA_SEGS_IN = 152


@pytest.fixture
async def server(write_engine: AsyncEngine) -> AsyncIterator[str]:
    async with serving(app_on(write_engine)) as url:
        yield url


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, method: str = "GET"
) -> tuple[bytes, bytes]:
    """One request on a kept-alive connection: the answer's head and body (by its Content-Length)."""
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: territory.test\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    body = await reader.readexactly(length) if method != "HEAD" else b""
    return head, body


def data_segments_in(writer: asyncio.StreamWriter) -> int:
    sock = writer.get_extra_info("socket")
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    count: int = struct.unpack_from("I", info, DATA_SEGS_IN)[0]
    return count


async def test_head_and_body_arrive_in_one_segment(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head, body = await exchange(reader, writer, "/v1/actors")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert body.startswith(b"[{") and b'"slug"' in body
        assert data_segments_in(writer) == 1  # two without app/http.py: the head, then the body
        # The next request on the same connection is answered the same way.
        head, body = await exchange(reader, writer, "/v1/places/no-such-place")
        assert head.startswith(b"HTTP/1.1 404 ") and b"application/problem+json" in head
        assert b"no-such-place" in body
        assert data_segments_in(writer) == 2
        # HEAD: the head alone, sent at the end of the step that started the answer.
        head, _ = await exchange(reader, writer, "/v1/actors", method="HEAD")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert data_segments_in(writer) == 3
    finally:
        writer.close()
        await writer.wait_closed()


async def test_answers_through_a_client_are_whole(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as http:
        answers = await asyncio.gather(*(http.get("/v1/actors") for _ in range(20)))
        gzip = await http.get("/v1/actors", headers={"Accept-Encoding": "gzip"})
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert answers[0].json()[0]["slug"]
    assert gzip.headers["content-encoding"] == "gzip" and gzip.json() == answers[0].json()
