"""Read your writes: every write answers the WAL position it committed at (Territory-LSN), a read may name it,
and the OpenAPI document says so. With replicas it decides who answers (tests/reliability/test_replicas.py);
without, the primary answers everything, and the header means the same."""

from __future__ import annotations

import re
from typing import Any

import httpx

from app.db.queries.replication import lsn
from app.main import create_app
from tests.api.test_registry_write import source

POSITION = "Territory-LSN"
LSN = re.compile(r"^[0-9A-F]{1,8}/[0-9A-F]{1,8}$")


async def test_a_write_answers_where_it_committed_and_a_read_naming_it_sees_it(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    first = await write_client.post("/v1/sources", json=source(slug="first"), headers=ingest_headers)
    second = await write_client.post("/v1/sources", json=source(slug="second"), headers=ingest_headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert LSN.match(first.headers[POSITION]) and LSN.match(second.headers[POSITION])
    assert lsn(second.headers[POSITION]) > lsn(first.headers[POSITION])
    read = await write_client.get("/v1/sources/second", headers={POSITION: second.headers[POSITION]})
    assert read.status_code == 200
    assert "Territory-Served-By" not in read.headers  # no replicas: nothing to tell
    # A refused write committed nothing, and has no position.
    again = await write_client.post(
        "/v1/sources", json=source(slug="first", title=""), headers=ingest_headers
    )
    assert again.status_code == 422
    assert POSITION not in again.headers


async def test_a_position_that_is_none_is_a_400_naming_the_header(write_client: httpx.AsyncClient) -> None:
    for bad in ("3000148", "0/xyz", "123456789/0", "-1/0"):
        response = await write_client.get("/v1/sources", headers={POSITION: bad})
        assert response.status_code == 400, bad
        assert response.headers["content-type"] == "application/problem+json"
        [error] = response.json()["errors"]
        assert (error["location"], error["field"]) == ("header", POSITION)


def test_the_openapi_document_shows_the_position_on_reads_and_writes() -> None:
    document: dict[str, Any] = create_app().openapi()
    paths = document["paths"]
    [header] = [p for p in paths["/v1/places/{ref}"]["get"]["parameters"] if p["name"] == POSITION]
    assert header["in"] == "header"
    assert "Territory-Served-By" in paths["/v1/places/{ref}"]["get"]["responses"]["200"]["headers"]
    written = paths["/v1/sources"]["post"]["responses"]
    assert set(written["201"]["headers"]) == {POSITION}
    assert "headers" not in written["422"]
