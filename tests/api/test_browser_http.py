"""What browsers and dashboards get over HTTP: gzip with an ETag per encoding, CORS from the setting, offline API
docs, the landing page and the map page's own assets."""

from __future__ import annotations

import asyncio
import gzip
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.api.deps import read_connection
from app.db.reads import ReadConnection
from app.main import create_app
from app.settings import Settings
from tests.conftest import app_on
from tests.live_server import serving

DASHBOARD = "https://dash.example.org"
IDENTITY = {"Accept-Encoding": "identity"}
GZIP = {"Accept-Encoding": "gzip"}


def client_with(engine: AsyncEngine, conn: AsyncConnection, **settings: Any) -> httpx.AsyncClient:
    app = create_app(Settings(database_url="postgresql://unused/unused", **settings))
    app.state.engine = app.state.read_engine = engine

    async def test_connection() -> AsyncConnection:
        # The production read connection, pinned to the test's transaction (rolled back after the test).
        return ReadConnection(engine, conn)

    app.dependency_overrides[read_connection] = test_connection
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://territory.test")


# The whole map is streamed (app/api/streams.py), the map of a box built whole: both are compressed.
WHOLE_MAP, MAP_OF_A_BOX = "/v1/control?at=2016-12-20", "/v1/control?at=2016-12-20&bbox=35,32,43,38"


@pytest.mark.parametrize("path", [WHOLE_MAP, MAP_OF_A_BOX])
async def test_gzip_answer_has_its_own_etag_and_both_revalidate(client: httpx.AsyncClient, path: str) -> None:
    plain = await client.get(path, headers=IDENTITY)
    async with client.stream("GET", path, headers=GZIP) as packed:
        raw = b"".join([chunk async for chunk in packed.aiter_raw()])
    assert plain.status_code == packed.status_code == 200
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert gzip.decompress(raw) == plain.content  # the same document
    assert len(raw) < len(plain.content)
    # A body built whole gives its length; a streamed one is chunked, its length known only at the end.
    assert packed.headers.get("content-length") == (None if path == WHOLE_MAP else str(len(raw)))
    assert packed.headers["etag"] == plain.headers["etag"][:-1] + '-gzip"'
    for response in (plain, packed):
        assert "accept-encoding" in response.headers["vary"].lower()
    for sent in (plain.headers["etag"], packed.headers["etag"]):
        again = await client.get(path, headers={**GZIP, "If-None-Match": sent})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == sent  # the representation the client holds
    stale = await client.get(path, headers={**GZIP, "If-None-Match": '"0000-gzip"'})
    assert stale.status_code == 200


async def test_raw_gzip_body_is_valid_gzip(client: httpx.AsyncClient) -> None:
    async with client.stream("GET", "/v1/inferred?at=2016-12-20", headers=GZIP) as response:
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    assert response.headers["content-type"] == "application/geo+json"
    assert response.headers["content-encoding"] == "gzip"
    assert b"FeatureCollection" in gzip.decompress(raw)[:60]


async def test_small_answers_and_refused_gzip_stay_plain(client: httpx.AsyncClient) -> None:
    small = await client.get("/healthz", headers=GZIP)
    assert "content-encoding" not in small.headers
    refused = await client.get("/v1/actors", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in refused.headers and refused.status_code == 200


async def test_cors_is_off_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/actors", headers={"Origin": DASHBOARD})
    assert "access-control-allow-origin" not in response.headers


async def test_cors_preflight_and_simple_get_for_a_listed_origin(
    engine: AsyncEngine, conn: AsyncConnection
) -> None:
    async with client_with(engine, conn, cors_origins=f"{DASHBOARD}, https://other.example.org") as http:
        preflight = await http.options(
            "/v1/control",
            headers={
                "Origin": DASHBOARD,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "if-none-match, territory-lsn",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == DASHBOARD
        assert "GET" in preflight.headers["access-control-allow-methods"]
        assert "if-none-match" in preflight.headers["access-control-allow-headers"].lower()
        # A dashboard may read what a script just wrote, naming its position (app/api/replication.py).
        assert "territory-lsn" in preflight.headers["access-control-allow-headers"].lower()
        simple = await http.get("/v1/control?at=2016-12-20", headers={"Origin": DASHBOARD})
        assert simple.status_code == 200
        assert simple.headers["access-control-allow-origin"] == DASHBOARD
        assert "etag" in simple.headers["access-control-expose-headers"].lower()
        stranger = await http.get("/v1/actors", headers={"Origin": "https://evil.example.net"})
        assert "access-control-allow-origin" not in stranger.headers
        refused = await http.options(
            "/v1/control",
            headers={"Origin": "https://evil.example.net", "Access-Control-Request-Method": "GET"},
        )
        assert refused.status_code == 400


@pytest.fixture
async def cors_server(write_engine: AsyncEngine) -> AsyncIterator[str]:
    """The app under uvicorn on loopback with CORS for the dashboard: ASGITransport cannot stream SSE."""
    async with serving(app_on(write_engine, cors_origins=DASHBOARD, feed_heartbeat_seconds=0.3)) as url:
        yield url


async def test_event_stream_is_readable_cross_origin_and_never_compressed(cors_server: str) -> None:
    async with httpx.AsyncClient(base_url=cors_server, timeout=10) as http:
        async with http.stream(
            "GET", "/v1/events/stream", headers={"Origin": DASHBOARD, **GZIP, "Last-Event-ID": "0"}
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["access-control-allow-origin"] == DASHBOARD
            assert "content-encoding" not in response.headers
            async with asyncio.timeout(10):
                first = await anext(response.aiter_lines())
            assert first == "retry: 2000"  # arrives at once: nothing buffers the stream


async def test_landing_page_links_the_map_docs_and_sources(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    links = set(re.findall(r'href="([^"]+)"', response.text))
    assert {"/map", "/docs", "/v1/sources", "/openapi.json", "/ogc"} <= links
    for link in links - {"/openapi.json"}:
        if link.startswith("/") and not link.startswith("/static"):
            assert (await client.get(link.split("#")[0])).status_code == 200, link


async def test_map_page_and_docs_load_only_local_assets(client: httpx.AsyncClient) -> None:
    for path, marker in (
        ("/map", "/static/map.js"),
        ("/docs", "/static/vendor/swagger-ui-dist/swagger-ui-bundle.js"),
        ("/redoc", "/static/vendor/redoc/redoc.standalone.js"),
    ):
        page = await client.get(path)
        assert page.status_code == 200 and marker in page.text
        assets = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', page.text)
        assert assets and all(a.startswith("/") for a in assets), (path, assets)
        for asset in assets:
            if asset.startswith("/static/"):
                served = await client.get(asset)
                assert served.status_code == 200, asset
    config = re.search(r'data-config="([^"]*)"', (await client.get("/map")).text)
    assert config and "basemapUrl&quot;:null" in config.group(1)  # no online basemap unless set


async def test_static_assets_are_compressed_and_revalidate(client: httpx.AsyncClient) -> None:
    path = "/static/vendor/maplibre-gl/maplibre-gl.mjs"
    first = await client.get(path, headers=GZIP)
    assert first.status_code == 200 and first.headers["content-encoding"] == "gzip"
    assert first.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    again = await client.get(path, headers={**GZIP, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("path", [WHOLE_MAP, MAP_OF_A_BOX])
async def test_head_gets_the_headers_of_the_gzip_get(client: httpx.AsyncClient, path: str) -> None:
    got = await client.get(path, headers=GZIP)
    head = await client.head(path, headers=GZIP)
    assert head.status_code == 200 and head.content == b""
    for name in ("etag", "content-encoding", "content-length", "vary"):
        assert head.headers.get(name) == got.headers.get(name), name
    assert ("content-length" in got.headers) == (path == MAP_OF_A_BOX)
