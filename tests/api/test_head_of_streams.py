"""HEAD on a streamed answer (the whole map, bbox-less changes, text exports): GET's status and headers, without
reading past the first batch (app/api/streams.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from unittest.mock import patch

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.queries import control as control_queries
from app.db.queries import streams
from app.services import exports as export_service
from tests.api.test_polling import client_of, following
from tests.conftest import app_on
from tests.live_server import serving

MAP = "/v1/control?at=2016-12-20"
CHANGES = "/v1/changes?from=2016-01-01&to=2017-06-30"
CSV = "/v1/control?at=2016-12-20&f=csv"
GZIP = {"Accept-Encoding": "gzip"}


@dataclass
class Read:
    """One statement read through `streams.stream`: the batches it gave, and whether it was closed."""

    batches: int = 0
    closed: bool = False


@contextlib.contextmanager
def reads_of_streams() -> Iterator[list[Read]]:
    """Every statement the streamed answers and the exports read, spied on where the code itself reads them."""
    real = streams.stream
    seen: list[Read] = []

    async def spy(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        read = Read()
        seen.append(read)
        try:
            async for rows in real(*args, **kwargs):
                read.batches += 1
                yield rows
        finally:
            read.closed = True

    with patch.object(control_queries, "stream", spy), patch.object(export_service, "stream", spy):
        yield seen


@pytest.mark.parametrize("path", [MAP, CHANGES, CSV])
@pytest.mark.parametrize("headers", [{}, GZIP])
async def test_head_answers_gets_headers_reading_one_batch_and_releasing_the_snapshot(
    write_engine: AsyncEngine, path: str, headers: dict[str, str]
) -> None:
    app = app_on(write_engine, stream_batch_rows=1)  # one place a batch (changes: one of 1 // 8, at least 1)
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        with reads_of_streams() as got_reads:
            got = await http.get(path, headers=headers)
        with reads_of_streams() as head_reads:
            head = await http.head(path, headers=headers)
        assert write_engine.pool.checkedout() == 0, "the snapshot's connection is back in the pool"  # type: ignore[attr-defined]
    assert got.status_code == head.status_code == 200 and head.content == b""
    # GET's answer is chunked (no Content-Length); HEAD's has neither.
    assert got.headers["transfer-encoding"] == "chunked" and "content-length" not in head.headers
    assert without(head.headers, "date") == without(got.headers, "date", "transfer-encoding")
    assert len(got_reads) == 1 and got_reads[0].batches > 3, "GET reads every batch"
    assert [(read.batches, read.closed) for read in head_reads] == [(1, True)]


def without(headers: httpx.Headers, *names: str) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name not in names}


async def test_a_head_is_not_kept_as_the_answer_of_the_next_get(write_engine: AsyncEngine) -> None:
    """With the data version known, a HEAD's empty body must not be kept for the same GET."""
    app = app_on(write_engine)
    await following(app)
    async with client_of(app) as http:
        head = await http.head(MAP)
        got = await http.get(MAP)
        again = await http.get(MAP, headers={"If-None-Match": head.headers["etag"]})
    assert head.status_code == 200 and head.headers["etag"] == got.headers["etag"]
    assert got.json()["type"] == "FeatureCollection" and len(got.json()["features"]) > 3
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/control?at=2016-12-20&actor=nobody-at-all", 404),
        ("/v1/changes?from=2016-01-01&to=2017-01-01&actor=nobody-at-all", 404),
        ("/v1/changes?from=2016-01-01&to=2017-01-01&limit=0", 400),
        ("/v1/control?at=2016-02-30", 400),
    ],
)
async def test_head_of_a_bad_request_is_its_problem_status(
    client: httpx.AsyncClient, path: str, status: int
) -> None:
    got, head = await client.get(path), await client.head(path)
    assert got.status_code == head.status_code == status
    assert head.headers["content-type"] == got.headers["content-type"] == "application/problem+json"
    assert head.content == b""
