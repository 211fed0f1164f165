"""Every place's state on a date as GeoJSON, what changed between two dates, actors, coalitions, summary."""

from __future__ import annotations

import httpx


async def test_control_map_is_geojson_built_by_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/control", params={"at": "2016-12-20"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    collection = response.json()
    assert collection["type"] == "FeatureCollection"
    features = {f["properties"]["slug"]: f for f in collection["features"]}
    assert len(features) == 22  # every place of the dataset has a record by then
    palmyra = features["palmyra"]
    assert palmyra["geometry"] == {"type": "Point", "coordinates": [38.2672, 34.56]}
    assert palmyra["properties"]["status"] == "controlled"
    assert palmyra["properties"]["controller"]["slug"] == "islamic-state"
    assert palmyra["properties"]["since"] == "2016-12-11"
    assert features["damascus"]["properties"]["coalitions"] == [
        {"slug": "pro-assad-coalition", "name": features["damascus"]["properties"]["coalitions"][0]["name"]}
    ]


async def test_control_map_filters(client: httpx.AsyncClient) -> None:
    in_box = await client.get("/v1/control", params={"at": "2016-12-20", "bbox": "36.5,35.5,39.5,37.0"})
    assert {f["properties"]["slug"] for f in in_box.json()["features"]} == {
        "aleppo",
        "al-bab",
        "jarabulus",
        "mare",
        "azaz",
        "dabiq",
        "raqqa",
        "sawran",
        "al-burj",
        "tabqa",
        "tabqa-airbase",
    }
    held = await client.get("/v1/control", params={"at": "2016-12-20", "actor": "islamic-state"})
    assert {f["properties"]["slug"] for f in held.json()["features"]} == {
        "palmyra",
        "raqqa",
        "al-bab",
        "tabqa",
        "tabqa-airbase",
    }
    shield = await client.get("/v1/control", params={"at": "2016-12-20", "coalition": "euphrates-shield"})
    assert {f["properties"]["slug"] for f in shield.json()["features"]} == {
        "jarabulus",
        "dabiq",
        "sawran",
        "al-burj",
    }
    airbases = await client.get("/v1/control", params={"at": "2016-12-20", "kind": "airbase"})
    assert {f["properties"]["slug"] for f in airbases.json()["features"]} == {
        "tiyas-airbase",
        "deir-ez-zor-airport",
        "tabqa-airbase",
        "qayyarah-airfield-west",
    }


async def test_changes_over_december_2016_and_january_2017(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/changes", params={"from": "2016-12-01", "to": "2017-01-31"})
    assert response.status_code == 200
    body = response.json()
    assert (body["from"], body["to"]) == ("2016-12-01", "2017-01-31")
    changes = {c["place"]["slug"]: c for c in body["changes"]}
    assert set(changes) == {"palmyra", "aleppo"}
    palmyra = changes["palmyra"]
    assert palmyra["before"]["controller"]["slug"] == "syrian-army"
    assert palmyra["after"]["controller"]["slug"] == "islamic-state"
    assert [e["date"] for e in palmyra["events"]] == ["2016-12-11"]
    assert changes["aleppo"]["before"]["status"] == "contested"
    assert changes["aleppo"]["after"]["status"] == "controlled"


async def test_changes_filtered_by_actor_and_bbox(client: httpx.AsyncClient) -> None:
    by_actor = await client.get(
        "/v1/changes", params={"from": "2016-08-01", "to": "2017-03-31", "actor": "turkish-backed-rebels"}
    )
    assert {c["place"]["slug"] for c in by_actor.json()["changes"]} == {
        "jarabulus",
        "dabiq",
        "al-bab",
        "sawran",
        "al-burj",
    }
    in_iraq = await client.get(
        "/v1/changes", params={"from": "2014-01-01", "to": "2016-01-01", "bbox": "42,33,45,37"}
    )
    assert {c["place"]["slug"] for c in in_iraq.json()["changes"]} == {
        "mosul",
        "ramadi",
        "fallujah",
        "qayyarah",
        "qayyarah-airfield-west",
    }
    # Net change only: Mosul and Fallujah were government-held at both ends of 2014-2017.
    whole_war = await client.get(
        "/v1/changes", params={"from": "2014-01-01", "to": "2017-12-31", "bbox": "42,33,45,37"}
    )
    assert {c["place"]["slug"] for c in whole_war.json()["changes"]} == {"ramadi"}


async def test_actor_with_memberships_over_time(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/actors/turkey")
    assert response.status_code == 200
    coalitions = {m["coalition"]["slug"] for m in response.json()["memberships"]}
    assert coalitions == {"euphrates-shield", "iraq-coalition"}  # in two coalitions at once in late 2016
    listing = await client.get("/v1/actors")
    assert "islamic-state" in {a["slug"] for a in listing.json()}


async def test_coalition_members_on_a_date(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/coalitions/euphrates-shield", params={"at": "2017-01-20"})
    assert response.status_code == 200
    members = {m["actor"]["slug"] for m in response.json()["members"]}
    assert {"turkey", "turkish-backed-rebels", "russia", "united-states"} == members
    after = await client.get("/v1/coalitions/euphrates-shield", params={"at": "2017-06-01"})
    assert after.json()["members"] == []
    assert len((await client.get("/v1/coalitions")).json()) == 4


async def test_unknown_actor_or_coalition_is_a_404_suggesting_the_closest(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/coalitions/euphrates-shild")
    assert response.status_code == 404
    assert response.json()["suggestions"][0]["slug"] == "euphrates-shield"
    assert (await client.get("/v1/actors/nobody")).status_code == 404
    # A name or an alias finds what the slug finds.
    assert (await client.get("/v1/actors/Daesh")).json() == (
        await client.get("/v1/actors/islamic-state")
    ).json()


async def test_summary_counts_places_held_by_kind(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/summary", params={"at": "2016-12-20"})
    assert response.status_code == 200
    body = response.json()
    actors = {a["slug"]: a for a in body["actors"]}
    assert actors["syrian-army"]["by_kind"] == {"airbase": 2, "city": 1}  # Damascus, T4, Deir ez-Zor airport
    assert actors["islamic-state"]["places"] == 5  # Palmyra, Raqqa, al-Bab, Tabqa and its airbase
    assert actors["islamic-state"]["by_kind"] == {"airbase": 1, "city": 4}
    coalitions = {c["slug"]: c for c in body["coalitions"]}
    assert coalitions["euphrates-shield"]["places"] == 4  # Jarabulus, Dabiq, Sawran, al-Burj


async def test_map_features_say_between_whom_and_how_sure_as_the_place_answer_does(
    client: httpx.AsyncClient,
) -> None:
    """A contested place on the map carries its parties, end, certainty and event, like /places/{ref}/control."""
    for place, on in (
        ("aleppo", "2015-06-01"),
        ("deir-ez-zor", "2014-07-15"),
        ("deir-ez-zor-airport", "2017-01-20"),
    ):
        collection = (await client.get("/v1/control", params={"at": on})).json()
        [feature] = [f for f in collection["features"] if f["properties"]["slug"] == place]
        one = (await client.get(f"/v1/places/{place}/control", params={"at": on})).json()
        properties = feature["properties"]
        assert properties["parties"] == one["parties"] and properties["parties"]
        assert (properties["status"], properties["until"], properties["certainty"]) == (
            one["status"],
            one["until"],
            one["certainty"],
        )
        assert properties["event_id"] == one["event"]["id"]
    aleppo = await client.get("/v1/control", params={"at": "2015-06-01", "bbox": "37.0,36.0,37.3,36.3"})
    [feature] = aleppo.json()["features"]
    assert {p["slug"] for p in feature["properties"]["parties"]} == {"syrian-army", "syrian-rebels"}
    assert feature["properties"]["controller"] is None
