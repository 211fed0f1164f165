"""Corrections and retractions never erase: history keeps every version, and `as_of` answers as it stood."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.test_events_write import event


async def moment(engine: AsyncEngine) -> str:
    """The database's clock now, between two writes (each write's versions carry its transaction's time)."""
    async with engine.connect() as connection:
        value: datetime = await connection.scalar(text("SELECT clock_timestamp()"))
    return value.isoformat()


async def control(client: httpx.AsyncClient, at: str, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/places/palmyra/control", params={"at": at, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_correction_keeps_the_old_version_and_as_of_sees_it(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    created = (await write_client.post("/v1/events", json=event(), headers=ingest_headers)).json()
    before_correction = await moment(write_engine)
    patched = await write_client.patch(
        f"/v1/events/{created['id']}",
        json={"date": "2017-06-10", "notes": "date corrected"},
        headers=ingest_headers,
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["date"], patched.json()["version"]) == ("2017-06-10", 2)

    now = await control(write_client, "2017-06-05")
    assert now["controller"]["slug"] == "syrian-army"
    then = await control(write_client, "2017-06-05", as_of=before_correction)
    assert (then["controller"]["slug"], then["since"]) == ("islamic-state", "2017-06-01")

    history = (await write_client.get(f"/v1/events/{created['id']}/history")).json()
    versions = history["versions"]
    assert [(v["version"], v["change"], v["date"]) for v in versions] == [
        (1, "created", "2017-06-01"),
        (2, "corrected", "2017-06-10"),
    ]
    assert versions[0]["recorded_until"] == versions[1]["recorded_from"]
    assert versions[1]["recorded_until"] is None
    assert versions[1]["recorded_by"] == "test-ingest"


async def test_retraction_disappears_from_answers_and_stays_in_history(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    created = (await write_client.post("/v1/events", json=event(), headers=ingest_headers)).json()
    before_retraction = await moment(write_engine)
    retracted = await write_client.delete(f"/v1/events/{created['id']}", headers=ingest_headers)
    assert retracted.status_code == 200
    assert retracted.json()["retracted_at"] is not None

    assert (await control(write_client, "2017-06-05"))["controller"]["slug"] == "syrian-army"
    assert (await control(write_client, "2017-06-05", as_of=before_retraction))["controller"]["slug"] == (
        "islamic-state"
    )
    timeline = (await write_client.get("/v1/places/palmyra/timeline")).json()
    assert created["id"] not in [p["event_id"] for p in timeline["periods"]]
    history = (await write_client.get(f"/v1/events/{created['id']}/history")).json()
    assert [v["change"] for v in history["versions"]] == ["created", "retracted"]
    async with write_engine.connect() as connection:
        assert (
            await connection.scalar(text("SELECT count(*) FROM control_event WHERE id = :id"), created) == 1
        )

    again = await write_client.delete(f"/v1/events/{created['id']}", headers=ingest_headers)
    assert again.json()["retracted_at"] == retracted.json()["retracted_at"]
    refused = await write_client.patch(
        f"/v1/events/{created['id']}", json={"notes": "x"}, headers=ingest_headers
    )
    assert refused.status_code == 409


async def test_as_of_before_an_event_was_recorded_does_not_see_it(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    before = await moment(write_engine)
    await write_client.post("/v1/events", json=event(), headers=ingest_headers)
    assert (await control(write_client, "2017-06-05"))["controller"]["slug"] == "islamic-state"
    assert (await control(write_client, "2017-06-05", as_of=before))["controller"]["slug"] == "syrian-army"
    # The map, the changes and the summary reconstruct the same way.
    bbox = "38.0,34.0,38.5,34.8"
    live_map = (await write_client.get("/v1/control", params={"at": "2017-06-05", "bbox": bbox})).json()
    old_map = (
        await write_client.get("/v1/control", params={"at": "2017-06-05", "bbox": bbox, "as_of": before})
    ).json()
    holder = {f["properties"]["slug"]: f["properties"]["controller"]["slug"] for f in live_map["features"]}
    old_holder = {f["properties"]["slug"]: f["properties"]["controller"]["slug"] for f in old_map["features"]}
    assert (holder["palmyra"], old_holder["palmyra"]) == ("islamic-state", "syrian-army")
    changes = {"from": "2017-05-01", "to": "2017-07-01"}
    live = (await write_client.get("/v1/changes", params=changes)).json()["changes"]
    old = (await write_client.get("/v1/changes", params={**changes, "as_of": before})).json()["changes"]
    assert "palmyra" in [c["place"]["slug"] for c in live]
    assert "palmyra" not in [c["place"]["slug"] for c in old]
    live_summary = (await write_client.get("/v1/summary", params={"at": "2017-06-05"})).json()
    old_summary = (await write_client.get("/v1/summary", params={"at": "2017-06-05", "as_of": before})).json()

    def places_of(summary: dict[str, Any], actor: str) -> int:
        return next((a["places"] for a in summary["actors"] if a["slug"] == actor), 0)

    assert places_of(live_summary, "islamic-state") == places_of(old_summary, "islamic-state") + 1


async def test_as_of_a_date_means_the_end_of_that_day(client: httpx.AsyncClient) -> None:
    # The seed was recorded today: as of a day in 2016, nothing was known yet, not even the place.
    before = await client.get(
        "/v1/places/palmyra/control", params={"at": "2016-12-20", "as_of": "2016-12-15"}
    )
    assert before.status_code == 404
    today = (
        await client.get("/v1/places/palmyra/control", params={"at": "2016-12-20", "as_of": "2999-01-01"})
    ).json()
    assert today["controller"]["slug"] == "islamic-state"


async def test_bad_as_of_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/places/palmyra/control", params={"as_of": "yesterday"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "as_of"


async def test_correction_to_an_unknown_actor_is_422_and_changes_nothing(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    created = (await write_client.post("/v1/events", json=event(), headers=ingest_headers)).json()
    response = await write_client.patch(
        f"/v1/events/{created['id']}", json={"actor": "daesh-x"}, headers=ingest_headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "actor"
    current = (await write_client.get(f"/v1/events/{created['id']}")).json()
    assert (current["actor"]["slug"], current["version"]) == ("islamic-state", 1)


async def test_correction_that_breaks_a_rule_is_422(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    created = (await write_client.post("/v1/events", json=event(), headers=ingest_headers)).json()
    response = await write_client.patch(
        f"/v1/events/{created['id']}", json={"status": "contested"}, headers=ingest_headers
    )
    assert response.status_code == 422
    assert "two" in response.json()["detail"]


async def test_unknown_event_is_404(write_client: httpx.AsyncClient, ingest_headers: dict[str, str]) -> None:
    assert (await write_client.get("/v1/events/999999")).status_code == 404
    assert (await write_client.delete("/v1/events/999999", headers=ingest_headers)).status_code == 404
    assert (await write_client.get("/v1/events/999999/history")).status_code == 404
