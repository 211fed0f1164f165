"""Competing claims through the API: rival events are stored and shown (disputed, alternatives) on every answer
that rests on them; `confidence=` answers from the surer events; one source contradicting itself is a 409."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.test_events_write import event

# The seed's Mosul, 10 July 2017 (data/events.yaml): liberated (confirmed) vs fighting in the Old City (reported).
MOSUL_RIVAL = "mosul-2017-07-10-old-city-fighting"


async def get(client: httpx.AsyncClient, url: str, **params: Any) -> Any:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_seeded_mosul_dispute_is_shown_on_control_timeline_map_and_changes(
    client: httpx.AsyncClient,
) -> None:
    answer = await get(client, "/v1/places/mosul/control", at="2017-07-15")
    assert (answer["controller"]["slug"], answer["status"], answer["disputed"]) == (
        "iraqi-security-forces",
        "controlled",
        True,
    )
    assert answer["certainty"] == "definite"  # the resolved claim is confirmed
    [rival] = answer["alternatives"]
    assert (rival["external_id"], rival["status"], rival["confidence"], rival["controller"]) == (
        MOSUL_RIVAL,
        "contested",
        "reported",
        None,
    )
    assert {s["slug"] for s in rival["sources"]} == {
        "dailystar-2017-07-10-abadi-congratulates-army",
        "globaltimes-2017-07-10-last-pockets-mosul",
    }
    after = await get(client, "/v1/places/mosul/control", at="2017-07-25")
    assert (after["disputed"], after["alternatives"], after["certainty"]) == (False, [], "definite")

    timeline = await get(client, "/v1/places/mosul/timeline")
    disputed = [p for p in timeline["periods"] if p["disputed"]]
    assert [(p["since"], p["until"], p["alternatives"][0]["external_id"]) for p in disputed] == [
        ("2017-07-10", "2017-07-21", MOSUL_RIVAL)
    ]
    assert {"mosul-2017-07-10-isf", MOSUL_RIVAL} <= {e["external_id"] for e in timeline["events"]}

    features = (await get(client, "/v1/control", at="2017-07-15"))["features"]
    props = {f["properties"]["slug"]: f["properties"] for f in features}
    assert props["mosul"]["disputed"] and props["mosul"]["alternatives"][0]["external_id"] == MOSUL_RIVAL
    assert not props["palmyra"]["disputed"] and props["palmyra"]["alternatives"] == []

    changes = (await get(client, "/v1/changes", **{"from": "2017-07-01", "to": "2017-07-15"}))["changes"]
    [mosul] = [c for c in changes if c["place"]["slug"] == "mosul"]
    assert (mosul["before"]["disputed"], mosul["after"]["disputed"]) == (False, True)
    assert mosul["after"]["alternatives"][0]["confidence"] == "reported"


async def test_disputes_lists_the_disputed_places_and_dates_in_pages(client: httpx.AsyncClient) -> None:
    body = await get(client, "/v1/disputes", **{"from": "2017-01-01", "to": "2017-12-31"})
    assert [(d["place"]["slug"], d["since"], d["until"]) for d in body["disputes"]] == [
        ("mosul", "2017-07-10", "2017-07-21")
    ]
    assert body["disputes"][0]["alternatives"][0]["external_id"] == MOSUL_RIVAL
    outside = await get(client, "/v1/disputes", **{"from": "2017-08-01", "to": "2017-12-31"})
    assert outside["disputes"] == []


async def test_confidence_confirmed_answers_from_confirmed_events_only(client: httpx.AsyncClient) -> None:
    # The rival is only reported: from confirmed events alone Mosul is not disputed.
    cautious = await get(client, "/v1/places/mosul/control", at="2017-07-15", confidence="confirmed")
    assert (cautious["controller"]["slug"], cautious["disputed"]) == ("iraqi-security-forces", False)
    assert (await get(client, "/v1/disputes", **{"from": "2017-01-01", "to": "2017-12-31",
                                                 "confidence": "confirmed"}))["disputes"] == []  # fmt: skip
    # Raqqa's capture by IS on 14 Jan 2014 is only reported: the cautious answer stays with the confirmed
    # fighting of 6 Jan, and the timeline leaves the reported events out.
    live = await get(client, "/v1/places/raqqa/control", at="2014-06-01")
    assert (live["controller"]["slug"], live["certainty"]) == ("islamic-state", "possible")
    confirmed = await get(client, "/v1/places/raqqa/control", at="2014-06-01", confidence="confirmed")
    assert (confirmed["status"], confirmed["controller"], confirmed["since"]) == (
        "contested",
        None,
        "2014-01-06",
    )
    assert (confirmed["event"]["external_id"], confirmed["certainty"]) == (
        "raqqa-2014-01-06-contested",
        "definite",
    )
    timeline = await get(client, "/v1/places/raqqa/timeline", confidence="confirmed")
    assert {e["confidence"] for e in timeline["events"]} == {"confirmed"}
    features = (await get(client, "/v1/control", at="2014-06-01", confidence="confirmed"))["features"]
    assert {f["properties"]["slug"]: f["properties"]["status"] for f in features}["raqqa"] == "contested"
    # `reported` keeps the reported events; `claimed` is every event (the live answer).
    assert (await get(client, "/v1/places/raqqa/control", at="2014-06-01", confidence="reported"))[
        "controller"
    ]["slug"] == "islamic-state"
    assert await get(client, "/v1/places/raqqa/control", at="2014-06-01", confidence="claimed") == live


async def test_an_unknown_confidence_is_a_400_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/control", params={"confidence": "certain"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "confidence"


async def test_another_source_disagreeing_is_stored_and_shown_with_the_first(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    first = await write_client.post("/v1/events", json=event(), headers=ingest_headers)
    assert first.status_code == 201, first.text
    rival = event(
        external_id="test-rival-army-denies",
        actor="syrian-army",
        loses=None,
        kind="held",
        confidence="claimed",
        sources=["wp-palmyra-offensive-2017"],
    )
    response = await write_client.post("/v1/events", json=rival, headers=ingest_headers)
    assert response.status_code == 201, response.text
    answer = await get(write_client, "/v1/places/palmyra/control", at="2017-06-01")
    assert (answer["controller"]["slug"], answer["disputed"]) == ("islamic-state", True)
    assert [
        (a["external_id"], a["confidence"], [s["slug"] for s in a["sources"]]) for a in answer["alternatives"]
    ] == [("test-rival-army-denies", "claimed", ["wp-palmyra-offensive-2017"])]
    # The feed carries each claim with its confidence.
    items = (await get(write_client, "/v1/events", place="palmyra", **{"from": "2017-06-01"}))["items"]
    assert {(i["external_id"], i["confidence"]) for i in items} == {
        ("test-qaryatayn-2017-06-01", "confirmed"),
        ("test-rival-army-denies", "claimed"),
    }
    # A correction making the rival confirmed and better sourced turns the answer round.
    patch = {
        "confidence": "confirmed",
        "sources": ["wp-palmyra-offensive-2017", "wp-palmyra-offensive-2016-12"],
    }
    corrected = await write_client.patch(
        f"/v1/events/{response.json()['id']}", json=patch, headers=ingest_headers
    )
    assert corrected.status_code == 200, corrected.text
    turned = await get(write_client, "/v1/places/palmyra/control", at="2017-06-01")
    assert (turned["controller"]["slug"], turned["alternatives"][0]["external_id"]) == (
        "syrian-army",
        "test-qaryatayn-2017-06-01",
    )
    history = await get(write_client, f"/v1/events/{response.json()['id']}/history")
    assert [v["confidence"] for v in history["versions"]] == ["claimed", "confirmed"]


async def test_one_source_giving_two_holders_on_a_day_is_still_a_409(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    await write_client.post("/v1/events", json=event(), headers=ingest_headers)
    rival = event(external_id="test-rival", actor="syrian-army", loses="islamic-state", kind="recaptured",
                  sources=["wp-palmyra-offensive-2017", "rferl-miller-2017-is-collapsing"])  # fmt: skip
    response = await write_client.post("/v1/events", json=rival, headers=ingest_headers)
    assert response.status_code == 409
    [error] = response.json()["errors"]
    assert error["sources"] == ["rferl-miller-2017-is-collapsing"]
    assert "same source" in error["reason"]


async def test_disputed_is_an_ogc_queryable(client: httpx.AsyncClient) -> None:
    body = await get(
        client, "/ogc/collections/places/items", datetime="2017-07-15", filter="disputed = true", limit=1000
    )
    assert [f["properties"]["slug"] for f in body["features"]] == ["mosul"]
    queryables = await get(client, "/ogc/collections/places/queryables")
    assert queryables["properties"]["disputed"]["type"] == "boolean"
