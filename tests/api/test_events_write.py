"""Recording events through the API: idempotent, all-or-nothing, with clear rejections and periods kept right."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import new_key


def event(**overrides: Any) -> dict[str, Any]:
    """An event the seed does not have: IS takes al-Qaryatayn on 2017-06-01 (made up for the tests)."""
    return {
        "external_id": "test-qaryatayn-2017-06-01",
        "place": "palmyra",
        "date": "2017-06-01",
        "kind": "captured",
        "actor": "islamic-state",
        "loses": "syrian-army",
        "status": "controlled",
        "sources": ["rferl-miller-2017-is-collapsing"],
        **overrides,
    }


async def count(engine: AsyncEngine, sql: str, **params: Any) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text(sql), params) or 0)


async def holder(client: httpx.AsyncClient, place: str, at: str) -> str | None:
    body = (await client.get(f"/v1/places/{place}/control", params={"at": at})).json()
    return body["controller"]["slug"] if body["controller"] else None


async def test_source_slug_of_the_article_exists(write_engine: AsyncEngine) -> None:
    # The tests below cite this source; fail loudly here rather than confusingly there.
    assert (
        await count(
            write_engine, "SELECT count(*) FROM source WHERE slug = 'rferl-miller-2017-is-collapsing'"
        )
        == 1
    )


async def test_post_event_creates_it_and_moves_the_period(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    assert await holder(write_client, "palmyra", "2017-06-02") == "syrian-army"
    response = await write_client.post("/v1/events", json=event(place="Tadmur"), headers=ingest_headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/v1/events/{body['id']}"
    assert body["place"]["slug"] == "palmyra"
    assert body["version"] == 1
    assert await holder(write_client, "palmyra", "2017-05-31") == "syrian-army"
    assert await holder(write_client, "palmyra", "2017-06-01") == "islamic-state"


async def test_same_event_twice_creates_nothing_and_returns_the_same_id(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    first = await write_client.post("/v1/events", json=event(), headers=ingest_headers)
    again = await write_client.post("/v1/events", json=event(), headers=ingest_headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    external_id = event()["external_id"]
    assert (
        await count(write_engine, "SELECT count(*) FROM control_event WHERE external_id = :x", x=external_id)
        == 1
    )
    assert (
        await count(
            write_engine,
            "SELECT count(*) FROM control_event_version v JOIN control_event e "
            "ON e.id = v.control_event_id WHERE e.external_id = :x",
            x=external_id,
        )
        == 1
    )


async def test_same_external_id_with_other_content_is_a_conflict(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    await write_client.post("/v1/events", json=event(), headers=ingest_headers)
    response = await write_client.post("/v1/events", json=event(date="2017-06-02"), headers=ingest_headers)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["field"] == "external_id" and error["differs"] == ["occurred_on"]


async def test_idempotency_key_stands_in_for_a_missing_external_id(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    without_id = event()
    del without_id["external_id"]
    refused = await write_client.post("/v1/events", json=without_id, headers=ingest_headers)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "external_id"
    headers = {**ingest_headers, "Idempotency-Key": "retry-me-1"}
    first = await write_client.post("/v1/events", json=without_id, headers=headers)
    again = await write_client.post("/v1/events", json=without_id, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["external_id"].endswith(":retry-me-1")


async def test_batch_sent_twice_records_once(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    batch = {
        "events": [
            event(external_id=f"test-batch-{i}", place=place, date=f"2017-07-{i + 1:02d}")
            for i, place in enumerate(["palmyra", "al-bab", "dabiq"])
        ]
    }
    before = await count(write_engine, "SELECT count(*) FROM control_event")
    first = await write_client.post("/v1/events/batch", json=batch, headers=ingest_headers)
    assert first.status_code == 201, first.text
    assert (first.json()["created"], first.json()["existing"]) == (3, 0)
    again = await write_client.post("/v1/events/batch", json=batch, headers=ingest_headers)
    assert again.status_code == 200
    assert (again.json()["created"], again.json()["existing"]) == (0, 3)
    assert [i["id"] for i in again.json()["items"]] == [i["id"] for i in first.json()["items"]]
    assert await count(write_engine, "SELECT count(*) FROM control_event") == before + 3


async def test_batch_with_bad_rows_records_nothing_and_lists_every_bad_row(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    before = await count(write_engine, "SELECT count(*) FROM control_event")
    batch = {
        "events": [
            event(external_id="ok-0"),
            event(external_id="bad-1", place="Palmira"),  # unknown spelling
            event(external_id="ok-2", place="al-bab", date="2017-07-02"),
            event(external_id="bad-3", actor="islamic-stat"),  # unknown actor
            event(external_id="bad-4", sources=["no-such-source"]),
        ]
    }
    response = await write_client.post("/v1/events/batch", json=batch, headers=ingest_headers)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "place"), (3, "actor"), (4, "sources")]
    assert errors[0]["suggestions"][0]["slug"] == "palmyra"
    assert errors[1]["suggestions"][0]["slug"] == "islamic-state"
    assert "nothing was recorded" in response.json()["detail"]
    assert await count(write_engine, "SELECT count(*) FROM control_event") == before


async def test_batch_schema_errors_name_the_row_index(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    batch = {
        "events": [event(), event(external_id="x", date="2017-02-30"), event(external_id="y", status="won")]
    }
    response = await write_client.post("/v1/events/batch", json=batch, headers=ingest_headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert sorted({(e["index"], e["field"].split(".")[-1]) for e in response.json()["errors"]}) == [
        (1, "date"),
        (2, "status"),
    ]


async def test_one_source_giving_two_holders_on_one_day_is_a_conflict_unless_contested(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    await write_client.post("/v1/events", json=event(), headers=ingest_headers)
    rival = event(external_id="test-rival", actor="syrian-army", loses="islamic-state", kind="recaptured")
    response = await write_client.post("/v1/events", json=rival, headers=ingest_headers)
    assert response.status_code == 409
    assert "held by both" in response.json()["errors"][0]["reason"]
    assert (
        await count(write_engine, "SELECT count(*) FROM control_event WHERE external_id = 'test-rival'") == 0
    )

    contested = event(
        external_id="test-contested",
        kind="contested",
        status="contested",
        actor=None,
        loses=None,
        parties=["syrian-army", "islamic-state"],
    )
    assert (await write_client.post("/v1/events", json=contested, headers=ingest_headers)).status_code == 201


async def test_events_arriving_out_of_order_give_the_same_periods(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    later = event(
        external_id="t-later",
        date="2017-08-01",
        actor="syrian-army",
        loses="islamic-state",
        kind="recaptured",
    )
    earlier = event(external_id="t-earlier", date="2017-06-01")
    for e in (later, earlier):
        assert (await write_client.post("/v1/events", json=e, headers=ingest_headers)).status_code == 201
    body = (await write_client.get("/v1/places/palmyra/control", params={"at": "2017-07-01"})).json()
    assert (body["controller"]["slug"], body["since"], body["until"]) == (
        "islamic-state",
        "2017-06-01",
        "2017-08-01",
    )


async def test_writes_need_a_key_with_the_ingest_scope(
    write_client: httpx.AsyncClient, write_engine: AsyncEngine
) -> None:
    none = await write_client.post("/v1/events", json=event())
    assert none.status_code == 401
    assert none.headers["www-authenticate"].startswith("Bearer")
    assert none.headers["content-type"] == "application/problem+json"
    bogus = await write_client.post("/v1/events", json=event(), headers={"Authorization": "Bearer terr_x_y"})
    assert bogus.status_code == 401
    read_key = await new_key(write_engine, "read")
    forbidden = await write_client.post("/v1/events", json=event(), headers={"X-API-Key": read_key})
    assert forbidden.status_code == 403
    assert "'read' scope" in forbidden.json()["detail"]
    assert (
        await count(
            write_engine,
            "SELECT count(*) FROM control_event WHERE external_id = :x",
            x=event()["external_id"],
        )
        == 0
    )


async def test_a_revoked_key_is_refused_at_once(
    write_client: httpx.AsyncClient, write_engine: AsyncEngine
) -> None:
    key = await new_key(write_engine, "ingest")
    headers = {"Authorization": f"Bearer {key}"}
    assert (await write_client.post("/v1/events", json=event(), headers=headers)).status_code == 201
    async with write_engine.begin() as connection:
        from app.services.keys import revoke_key

        assert await revoke_key(connection, prefix=key) is not None
    refused = await write_client.post("/v1/events", json=event(external_id="after-revoke"), headers=headers)
    assert refused.status_code == 401


async def test_keys_are_stored_only_as_digests(write_engine: AsyncEngine) -> None:
    key = await new_key(write_engine, "admin")
    async with write_engine.connect() as connection:
        rows = (await connection.execute(text("SELECT prefix, secret_sha256 FROM api_key"))).all()
        dump = str([tuple(r) for r in rows])
        secret = key.split("_", 2)[2]  # terr_<prefix>_<secret>; the secret itself may contain "_"
        assert secret not in dump
        assert any(len(r.secret_sha256) == 32 for r in rows)
        # Nor anywhere else in the database's text columns.
        found = await connection.scalar(
            text("SELECT count(*) FROM api_key WHERE name LIKE :s OR prefix LIKE :s"), {"s": f"%{secret}%"}
        )
        assert found == 0


async def test_batch_over_the_limit_is_413(write_engine: AsyncEngine, ingest_headers: dict[str, str]) -> None:
    from tests.conftest import app_on

    app = app_on(write_engine, max_batch=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        batch = {"events": [event(external_id=f"n{i}") for i in range(3)]}
        response = await client.post("/v1/events/batch", json=batch, headers=ingest_headers)
    assert response.status_code == 413
    assert response.json()["max_batch"] == 2


async def test_body_over_the_limit_is_413(write_engine: AsyncEngine, ingest_headers: dict[str, str]) -> None:
    from tests.conftest import app_on

    app = app_on(write_engine, max_body_bytes=2048)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        batch = {"events": [event(external_id=f"n{i}", notes="x" * 500) for i in range(10)]}
        response = await client.post("/v1/events/batch", json=batch, headers=ingest_headers)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_rate_limit_per_key_answers_429_with_retry_after(
    write_engine: AsyncEngine, ingest_headers: dict[str, str]
) -> None:
    from tests.conftest import app_on

    app = app_on(write_engine, rate_limit_per_minute=20)  # bursts of 2
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        statuses = [
            (await client.post("/v1/events", json=event(), headers=ingest_headers)).status_code
            for _ in range(3)
        ]
        limited = await client.post("/v1/events", json=event(), headers=ingest_headers)
    assert statuses[:2] == [201, 200]
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1


async def test_reads_can_require_a_read_key(write_engine: AsyncEngine) -> None:
    from tests.conftest import app_on

    app = app_on(write_engine, require_read_key=True)
    read_key = await new_key(write_engine, "read")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        # Reads of every kind: a record, a tile (and the dated one), a TileJSON, an OGC collection, an export.
        for path in (
            "/v1/places/palmyra",
            "/v1/tiles/places/8/155/101.mvt?at=2016-12-20",
            "/v1/tiles/places/2016-12-20/8/155/101.mvt",
            "/v1/tiles/places.json",
            "/ogc/collections/places/items?limit=1",
            "/v1/control?at=2016-12-20&bbox=38,34,39,35&f=csv",
        ):
            assert (await client.get(path)).status_code == 401, path
            ok = await client.get(path, headers={"Authorization": f"Bearer {read_key}"})
            assert ok.status_code == 200, (path, ok.text)
        assert (await client.get("/healthz")).status_code == 200
