"""HTTP behaviour: caching headers and 304, health and readiness, and a problem body for every bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.engine import create_engine
from app.db.queries.as_of import VERSIONED
from app.main import create_app
from app.settings import Settings
from tests.conftest import app_on, database_on, new_key


async def test_etag_and_if_none_match_give_304(client: httpx.AsyncClient) -> None:
    first = await client.get("/v1/places/palmyra/control", params={"at": "2016-12-20"})
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "public, no-cache"  # a past date: it can still be corrected
    again = await client.get(
        "/v1/places/palmyra/control", params={"at": "2016-12-20"}, headers={"If-None-Match": etag}
    )
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    other_day = await client.get(
        "/v1/places/palmyra/control", params={"at": "2016-12-10"}, headers={"If-None-Match": etag}
    )
    assert other_day.status_code == 200 and other_day.headers["etag"] != etag


@pytest.mark.parametrize(
    "path",
    [
        "/v1/control?at=2016-12-20",
        "/v1/changes?from=2016-12-01&to=2017-01-31",
        "/v1/actors",
        "/v1/coalitions/iraq-coalition",
        "/v1/summary?at=2016-12-20",
        "/v1/places?q=raqqa",
        "/v1/places/mosul/timeline",
    ],
)
async def test_every_get_answer_carries_an_etag_that_revalidates(
    client: httpx.AsyncClient, path: str
) -> None:
    first = await client.get(path)
    assert first.status_code == 200
    again = await client.get(path, headers={"If-None-Match": f"W/{first.headers['etag']}"})
    assert again.status_code == 304


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


@pytest.mark.parametrize(
    ("path", "field", "words"),
    [
        ("/v1/places/palmyra/control?at=2016-13-45", "at", "YYYY-MM-DD"),
        ("/v1/control?at=yesterday", "at", "YYYY-MM-DD"),
        ("/v1/changes?from=2017-01-31&to=2016-12-01", "from", "after"),
        ("/v1/changes?to=2016-12-01", "from", "required"),
        ("/v1/control?bbox=-190,30,40,37", "bbox", "-180..180"),
        ("/v1/control?bbox=36,38,40,37", "bbox", "south"),
        ("/v1/control?bbox=41,30,40,37", "bbox", "west"),
        ("/v1/control?bbox=1,2,3", "bbox", "four numbers"),
        ("/v1/places?limit=0", "limit", "greater than or equal to 1"),
        ("/v1/places?limit=100000", "limit", "less than or equal to 500"),
        ("/v1/places?near=200,10", "near", "outside"),
        ("/v1/places?q=", "q", "empty"),
        ("/v1/coalitions/iraq-coalition?at=2016-02-30", "at", "calendar date"),
    ],
)
async def test_bad_input_is_a_problem_naming_the_parameter(
    client: httpx.AsyncClient, path: str, field: str, words: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400 and problem["title"]
    assert problem["errors"][0]["field"] == field
    assert words in problem["detail"]


async def test_unknown_route_is_a_problem_too(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_readyz_is_503_when_the_schema_is_not_migrated(server_url: str) -> None:
    app = create_app(Settings(database_url="postgresql://unused/unused"))
    app.state.engine = create_engine(database_on(server_url, "postgres"), pool_size=1)  # no alembic_version
    app.state.read_engine = app.state.engine
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            response = await http.get("/readyz")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert "revision None" in response.json()["detail"]
        assert response.json()["reason"] == "schema-not-at-head"
    finally:
        await app.state.engine.dispose()


# Cache-Control: revalidate what can still change, keep only what cannot.


async def test_a_live_answer_about_a_past_date_is_revalidated_and_a_correction_reaches_the_client(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    path, params = "/v1/places/palmyra/control", {"at": "2016-12-20"}
    before = await write_client.get(path, params=params)
    assert before.headers["cache-control"] == "public, no-cache"  # a past date, and still correctable
    assert before.json()["controller"]["slug"] == "islamic-state"
    retracted = await write_client.delete(
        f"/v1/events/{before.json()['event']['id']}", headers=ingest_headers
    )
    assert retracted.status_code == 200, retracted.text
    # The client revalidates with what it holds, and gets the corrected answer, not a 304.
    after = await write_client.get(path, params=params, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.json()["controller"]["slug"] != "islamic-state"
    assert after.headers["cache-control"] == "public, no-cache"


def varies_with(response: httpx.Response) -> set[str]:
    return {name.strip().lower() for name in response.headers.get("vary", "").split(",") if name.strip()}


@pytest.mark.parametrize(
    "path",
    [
        "/v1/places/palmyra/control",  # today
        "/v1/places/palmyra/control?at=2015-05-21",
        "/v1/control?at=2016-12-20",
        "/v1/changes?from=2016-12-01&to=2017-01-31",
        "/v1/summary?at=2016-12-20",
        "/v1/places/palmyra",
        "/v1/events",
        "/v1/tiles/places/8/155/101.mvt?at=2016-12-20",
    ],
)
async def test_every_live_answer_must_be_revalidated(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "public, no-cache"
    # Shared caches may keep it for everyone: it varies with the encoding only, never with a key.
    assert varies_with(response) == {"accept-encoding"}


async def test_an_empty_tile_is_revalidated_too(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/tiles/places/6/0/0.mvt", params={"at": "2016-12-20"})
    assert response.status_code == 204
    assert response.headers["cache-control"] == "public, no-cache"


@pytest.fixture
async def kept_before_history(conn: AsyncConnection) -> None:
    """The seeded rows as a database upgraded to history (revision 0011) holds them: recorded since the start
    of time, so the places exist as of any past moment (the seed itself was recorded minutes ago)."""
    for table in VERSIONED:
        await conn.execute(
            text(f"UPDATE {table}_version SET recorded = tstzrange(NULL, upper(recorded)) WHERE version = 1")
        )


@pytest.mark.usefixtures("kept_before_history")
@pytest.mark.parametrize(
    "path",
    [
        "/v1/places/palmyra/control?at=2016-12-20&as_of=2026-01-01",
        "/v1/places/palmyra/timeline?as_of=2026-01-01T12:00:00Z",
        "/v1/control?at=2016-12-20&as_of=2026-01-01",
        "/v1/changes?from=2016-12-01&to=2017-01-31&as_of=2026-01-01",
        "/v1/summary?at=2016-12-20&as_of=2026-01-01",
    ],
)
async def test_an_answer_as_of_a_settled_moment_is_immutable(client: httpx.AsyncClient, path: str) -> None:
    first = await client.get(path)
    assert first.status_code == 200, first.text
    assert first.headers["cache-control"] == f"public, max-age={365 * 24 * 3600}, immutable"
    again = await client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["cache-control"] == first.headers["cache-control"]


@pytest.mark.usefixtures("kept_before_history")
@pytest.mark.parametrize("ago", [timedelta(hours=1), timedelta(0), -timedelta(days=1)])
async def test_an_answer_as_of_a_recent_or_future_moment_is_revalidated(
    client: httpx.AsyncClient, ago: timedelta
) -> None:
    # A write that began before a recent moment can still commit, and change the record as of it.
    as_of = (datetime.now(UTC) - ago).isoformat()
    response = await client.get("/v1/places/palmyra/control", params={"at": "2016-12-20", "as_of": as_of})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "public, no-cache"


async def test_with_read_keys_answers_are_private_and_vary_with_the_key(write_engine: AsyncEngine) -> None:
    app = app_on(write_engine, require_read_key=True)
    key = {"Authorization": f"Bearer {await new_key(write_engine, 'read')}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        live = await http.get("/v1/places/palmyra/control", params={"at": "2016-12-20"}, headers=key)
        assert live.status_code == 200
        assert live.headers["cache-control"] == "private, no-cache"
        assert varies_with(live) == {"authorization", "x-api-key", "accept-encoding"}
        again = await http.get(
            "/v1/places/palmyra/control",
            params={"at": "2016-12-20"},
            headers={**key, "If-None-Match": live.headers["etag"]},
        )
        assert again.status_code == 304
        assert again.headers["cache-control"] == "private, no-cache"
        assert {"authorization", "x-api-key"} <= varies_with(again)
        settled = await http.get(
            "/v1/control", params={"at": "2016-12-20", "as_of": "2026-01-01"}, headers=key
        )
        assert settled.headers["cache-control"] == f"private, max-age={365 * 24 * 3600}, immutable"
        assert {"authorization", "x-api-key"} <= varies_with(settled)
