"""Guards before any route: NUL characters anywhere in a request, a chunked body over the limit, HEAD as GET,
and wrong keys throttled per client address."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import app_on


def assert_problem(response: httpx.Response, status: int, location: str, field: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert (error["location"], error["field"]) == (location, field)
    assert "NUL" in error["reason"]


async def test_a_nul_in_the_path_or_the_query_is_a_400_naming_where(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/places/%00"), 400, "path", "path")
    assert_problem(await client.get("/v1/places/pal%00myra/control"), 400, "path", "path")
    assert_problem(await client.get("/v1/events", params={"actor": "is\x00"}), 400, "query", "actor")
    assert_problem(await client.get("/v1/coalitions?at=2016%0001-01"), 400, "query", "at")


async def test_a_nul_in_a_json_body_is_a_422_naming_the_field(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    body = {"events": [{"place": "palmyra"}, {"place": "raqqa", "notes": "a\x00b"}]}
    response = await write_client.post("/v1/events/batch", json=body, headers=ingest_headers)
    assert_problem(response, 422, "body", "events.1.notes")
    # Half of a surrogate pair cannot be stored either; a whole pair (an emoji) is a character like any other.
    half = b'{"events": [{"place": "palmyra", "notes": "\\ud83d"}]}'
    response = await write_client.post(
        "/v1/events/batch", content=half, headers={**ingest_headers, "content-type": "application/json"}
    )
    assert_problem(response, 422, "body", "events.0.notes")
    pair = b'{"events": [{"place": "\\ud83d\\ude00"}]}'
    response = await write_client.post(
        "/v1/events/batch", content=pair, headers={**ingest_headers, "content-type": "application/json"}
    )
    assert response.status_code == 422
    # An escaped backslash before u0000 is no NUL: the body reaches the route (which finds it incomplete).
    escaped = b'{"events": [{"place": "\\\\u0000"}]}'
    response = await write_client.post(
        "/v1/events/batch", content=escaped, headers={**ingest_headers, "content-type": "application/json"}
    )
    assert response.status_code == 422


async def test_a_chunked_body_over_the_limit_is_413(
    write_engine: AsyncEngine, ingest_headers: dict[str, str]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"events": ['
        for _ in range(100):
            yield b'{"place": "palmyra", "notes": "' + b"x" * 100 + b'"},'
        yield b"{}]}"

    app = app_on(write_engine, max_body_bytes=2048)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        request = http.build_request(
            "POST",
            "/v1/events/batch",
            content=chunks(),
            headers={**ingest_headers, "content-type": "application/json"},
        )
        assert "content-length" not in request.headers
        response = await http.send(request)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["max_bytes"] == 2048


async def test_head_answers_as_get_without_the_body(client: httpx.AsyncClient) -> None:
    for path in ("/v1/places/palmyra", "/v1/actors", "/healthz", "/v1/places/palmyra/control?at=2016-06-01"):
        got = await client.get(path)
        head = await client.head(path)
        assert head.status_code == got.status_code == 200
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers.get("etag") == got.headers.get("etag")
    assert (await client.head("/v1/places/nowhere-at-all")).status_code == 404


async def test_wrong_keys_are_throttled_per_client_address(write_engine: AsyncEngine) -> None:
    app = app_on(write_engine, wrong_keys_per_minute=30)  # bursts of 3
    wrong = {"Authorization": "Bearer terr_000000000000_not-a-key"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        statuses = [(await http.post("/v1/events", json={}, headers=wrong)).status_code for _ in range(5)]
        assert statuses == [401, 401, 401, 429, 429]
        throttled = await http.post("/v1/events", json={}, headers=wrong)
        assert throttled.status_code == 429
        assert throttled.headers["content-type"] == "application/problem+json"
        assert 1 <= int(throttled.headers["retry-after"]) <= 2
    # Another address is not held back by this one's wrong keys.
    other = httpx.ASGITransport(app=app, client=("192.0.2.7", 1234))
    async with httpx.AsyncClient(transport=other, base_url="http://t") as http:
        assert (await http.post("/v1/events", json={}, headers=wrong)).status_code == 401
