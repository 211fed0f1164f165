"""Writing places and their spellings, sources, actors, coalitions and memberships through the API: idempotent,
transactional, with refusals that name the field, and visible at once to the read endpoints."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.test_events_write import count

PROBLEM_JSON = "application/problem+json"


def place(**overrides: Any) -> dict[str, Any]:
    """A town the seed does not have."""
    return {
        "slug": "al-qaryatayn",
        "name": "al-Qaryatayn",
        "kind": "town",
        "country": "SY",
        "lat": 34.2286,
        "lon": 37.2406,
        "population": 14208,
        "names": [{"name": "القريتين", "lang": "ar"}, {"name": "Qaryatayn", "lang": "ar-Latn"}],
        **overrides,
    }


def actor(**overrides: Any) -> dict[str, Any]:
    return {
        "slug": "liwa-al-quds",
        "name": "Liwa al-Quds",
        "aliases": ["Al-Quds Brigade"],
        "kind": "militia",
        "color": "#7f3f98",
        **overrides,
    }


def source(**overrides: Any) -> dict[str, Any]:
    return {
        "slug": "test-report-2017-03-02",
        "title": "Syrian army retakes Palmyra",
        "publisher": "Test Wire",
        "url": "https://example.org/2017/03/02/palmyra",
        "published_on": "2017-03-02",
        **overrides,
    }


def coalition(**overrides: Any) -> dict[str, Any]:
    return {
        "slug": "test-coalition",
        "name": "Test coalition",
        "color": "#123456",
        "members": [
            {"actor": "syrian-army", "from": "2015-01-01", "to": "2016-01-01"},
            {"actor": "russia", "from": "2015-09-30", "source": "rferl-miller-2017-is-collapsing"},
        ],
        **overrides,
    }


# --- Places ---------------------------------------------------------------------------------------------------


async def test_post_place_creates_it_with_its_spellings_and_get_reads_it_back(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    response = await write_client.post("/v1/places", json=place(), headers=ingest_headers)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/v1/places/al-qaryatayn"
    body = response.json()
    assert body["warnings"] == []
    # GeoJSON order: longitude first.
    assert body["location"] == {"type": "Point", "coordinates": [37.2406, 34.2286]}
    assert [n["name"] for n in body["names"]] == ["al-Qaryatayn", "القريتين", "Qaryatayn"]
    read = await write_client.get("/v1/places/القريتين")
    assert read.status_code == 200
    assert {k: read.json()[k] for k in ("slug", "kind", "country_code", "population")} == {
        "slug": "al-qaryatayn",
        "kind": "town",
        "country_code": "SY",
        "population": 14208,
    }
    assert read.json()["location"]["coordinates"] == [37.2406, 34.2286]


async def test_same_place_again_answers_200_and_stores_nothing(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    first = await write_client.post("/v1/places", json=place(), headers=ingest_headers)
    places, names = (
        await count(write_engine, "SELECT count(*) FROM place"),
        await count(write_engine, "SELECT count(*) FROM place_name"),
    )
    again = await write_client.post("/v1/places", json=place(), headers=ingest_headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert await count(write_engine, "SELECT count(*) FROM place") == places
    assert await count(write_engine, "SELECT count(*) FROM place_name") == names


async def test_same_slug_with_other_content_is_409_listing_the_differences(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    await write_client.post("/v1/places", json=place(), headers=ingest_headers)
    other = place(lat=34.3, names=[{"name": "Qaryatain", "lang": "ar-Latn"}])
    response = await write_client.post("/v1/places", json=other, headers=ingest_headers)
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM_JSON
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["lat", "names.0"]
    assert (errors[0]["stored"], errors[0]["sent"]) == (34.2286, 34.3)
    assert "PATCH /v1/places/al-qaryatayn" in response.json()["detail"]
    stored = (await write_client.get("/v1/places/al-qaryatayn")).json()
    assert stored["location"]["coordinates"][1] == 34.2286
    assert (await write_client.get("/v1/places/Qaryatain")).status_code == 404


async def test_a_seeded_slug_sent_with_other_content_is_409(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    response = await write_client.post("/v1/places", json=place(slug="palmyra"), headers=ingest_headers)
    assert response.status_code == 409
    assert {"name", "lat", "lon"} <= {e["field"] for e in response.json()["errors"]}


async def test_latitude_out_of_range_is_422_naming_lat(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    # Longitude and latitude swapped is the usual mistake; a latitude over 90 is caught.
    response = await write_client.post(
        "/v1/places", json=place(lat=137.24, lon=34.22), headers=ingest_headers
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    [error] = response.json()["errors"]
    assert error["field"] == "lat" and "90" in error["reason"]
    assert await count(write_engine, "SELECT count(*) FROM place WHERE slug = 'al-qaryatayn'") == 0


async def test_coordinates_in_the_wrong_order_are_stored_with_a_warning(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    # In Syria both numbers are valid either way round: only the distance to the other Syrian places tells.
    swapped = await write_client.post(
        "/v1/places", json=place(lat=37.2406, lon=34.2286), headers=ingest_headers
    )
    assert swapped.status_code == 201
    [warning] = swapped.json()["warnings"]
    assert (warning["field"], warning["kind"]) == ("lat", "swapped")
    fixed = await write_client.patch(
        "/v1/places/al-qaryatayn", json={"lat": 34.2286, "lon": 37.2406}, headers=ingest_headers
    )
    assert fixed.status_code == 200
    assert fixed.json()["warnings"] == []
    assert fixed.json()["location"]["coordinates"] == [37.2406, 34.2286]


async def test_a_slug_of_digits_only_is_refused_as_it_reads_as_an_id(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    response = await write_client.post("/v1/places", json=place(slug="1234"), headers=ingest_headers)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["slug"]


async def test_unknown_parent_is_422_with_suggestions_and_nothing_stored(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    response = await write_client.post("/v1/places", json=place(parent="Palmira"), headers=ingest_headers)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "parent"
    assert error["suggestions"][0]["slug"] == "palmyra"
    assert await count(write_engine, "SELECT count(*) FROM place WHERE slug = 'al-qaryatayn'") == 0


async def test_parent_named_by_a_spelling_is_stored_and_shown(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    response = await write_client.post("/v1/places", json=place(parent="Tadmur"), headers=ingest_headers)
    assert response.status_code == 201
    assert response.json()["parent"]["slug"] == "palmyra"
    children = (await write_client.get("/v1/places/palmyra")).json()["children"]
    assert [c["slug"] for c in children] == ["al-qaryatayn"]


async def test_patch_place_changes_the_fields_given_and_keeps_the_old_name_as_a_spelling(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    response = await write_client.patch(
        "/v1/places/palmyra",
        json={"name": "Palmyra (Tadmur)", "population": 55000, "lat": 34.55},
        headers=ingest_headers,
    )
    assert response.status_code == 200, response.text
    read = (await write_client.get("/v1/places/palmyra")).json()
    assert (read["name"], read["population"], read["kind"]) == ("Palmyra (Tadmur)", 55000, "city")
    assert read["location"]["coordinates"] == [38.2672, 34.55]
    for spelling in ("Palmyra", "Palmyra (Tadmur)"):
        assert (await write_client.get(f"/v1/places/{spelling}")).json()["slug"] == "palmyra"


async def test_patch_with_latitude_out_of_range_is_422_and_changes_nothing(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    response = await write_client.patch(
        "/v1/places/palmyra", json={"lat": -95, "population": 1}, headers=ingest_headers
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["lat"]
    assert (await write_client.get("/v1/places/palmyra")).json()["population"] == 51323


async def test_patch_of_an_unknown_place_is_404_with_suggestions(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    response = await write_client.patch("/v1/places/palmyr", json={"population": 1}, headers=ingest_headers)
    assert response.status_code == 404
    assert response.json()["suggestions"][0]["slug"] == "palmyra"


async def test_a_parent_that_makes_a_cycle_is_refused(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    await write_client.post("/v1/places", json=place(parent="palmyra"), headers=ingest_headers)
    response = await write_client.patch(
        "/v1/places/palmyra", json={"parent": "al-qaryatayn"}, headers=ingest_headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "parent"
    assert (await write_client.get("/v1/places/palmyra")).json()["parent"] is None


async def test_a_new_spelling_makes_the_place_resolvable_by_it(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    url = "/v1/places/Tudmor al-Atiqa/control"
    assert (await write_client.get(url, params={"at": "2016-12-20"})).status_code == 404
    body = {"names": [{"name": "Tudmor al-Atiqa", "lang": "ar-Latn"}]}
    added = await write_client.post("/v1/places/palmyra/names", json=body, headers=ingest_headers)
    assert added.status_code == 201, added.text
    assert added.json()["warnings"] == []
    control = await write_client.get(url, params={"at": "2016-12-20"})
    assert control.status_code == 200
    assert (control.json()["place"]["slug"], control.json()["controller"]["slug"]) == (
        "palmyra",
        "islamic-state",
    )
    again = await write_client.post("/v1/places/palmyra/names", json=body, headers=ingest_headers)
    assert again.status_code == 200
    assert [n["name"] for n in again.json()["names"]].count("Tudmor al-Atiqa") == 1


async def test_a_spelling_shared_with_another_place_is_stored_with_a_warning(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    await write_client.post("/v1/places", json=place(), headers=ingest_headers)
    body = {"names": [{"name": "Tadmur", "lang": "ar-Latn"}]}
    response = await write_client.post("/v1/places/al-qaryatayn/names", json=body, headers=ingest_headers)
    assert response.status_code == 201
    [warning] = response.json()["warnings"]
    assert (warning["kind"], warning["name"], warning["field"]) == ("shared", "Tadmur", "names")
    assert [o["slug"] for o in warning["others"]] == ["palmyra"]
    ambiguous = await write_client.get("/v1/places/Tadmur/control", params={"at": "2016-12-20"})
    assert ambiguous.status_code == 409
    assert {c["slug"] for c in ambiguous.json()["candidates"]} == {"palmyra", "al-qaryatayn"}


async def test_a_place_created_with_names_lookups_will_not_take_as_meant_is_warned_about(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    names = [{"name": "Palmyra", "lang": "en"}, {"name": "raqqa"}, {"name": "Al Qaryatayn"}]
    response = await write_client.post(
        "/v1/places", json=place(slug="tadmur", names=names), headers=ingest_headers
    )
    assert response.status_code == 201
    assert sorted((w["kind"], w["field"], w["name"]) for w in response.json()["warnings"]) == [
        ("duplicate", "names", "Al Qaryatayn"),  # reads the same as its primary name
        ("shadowed", "names", "raqqa"),  # Raqqa's slug: lookups find Raqqa
        ("shared", "names", "Palmyra"),  # lookups answer 409
        ("shared", "names", "raqqa"),  # and so do those by 'Raqqa'
        ("taken", "slug", "tadmur"),  # lookups by 'tadmur' now find this place, not Palmyra
    ]
    assert (await write_client.get("/v1/places/tadmur")).json()["name"] == "al-Qaryatayn"
    assert (await write_client.get("/v1/places/Tadmur")).json()["slug"] == "palmyra"
    assert (await write_client.get("/v1/places/raqqa")).json()["slug"] == "raqqa"
    assert (await write_client.get("/v1/places/Palmyra")).status_code == 409


async def test_a_known_spelling_sent_with_another_language_is_409(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    body = {"names": [{"name": "Tadmur", "lang": "fr"}]}
    response = await write_client.post("/v1/places/palmyra/names", json=body, headers=ingest_headers)
    assert response.status_code == 409
    assert "'ar-Latn'" in response.json()["errors"][0]["reason"]


async def test_remove_a_spelling_but_never_the_primary_name(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    removed = await write_client.delete("/v1/places/palmyra/names/Tadmur", headers=ingest_headers)
    assert removed.status_code == 200
    assert "Tadmur" not in [n["name"] for n in removed.json()["names"]]
    assert (await write_client.get("/v1/places/Tadmur")).status_code == 404
    again = await write_client.delete("/v1/places/palmyra/names/Tadmur", headers=ingest_headers)
    assert again.status_code == 404
    assert "Tadmor" in again.json()["names"]
    primary = await write_client.delete("/v1/places/palmyra/names/Palmyra", headers=ingest_headers)
    assert primary.status_code == 409
    assert (await write_client.get("/v1/places/Palmyra")).status_code == 200


async def test_place_writes_need_an_ingest_key(
    write_client: httpx.AsyncClient, write_engine: AsyncEngine
) -> None:
    from tests.conftest import new_key

    assert (await write_client.post("/v1/places", json=place())).status_code == 401
    read_key = {"Authorization": f"Bearer {await new_key(write_engine, 'read')}"}
    assert (await write_client.post("/v1/places", json=place(), headers=read_key)).status_code == 403
    admin_key = {"Authorization": f"Bearer {await new_key(write_engine, 'admin')}"}
    assert (await write_client.post("/v1/places", json=place(), headers=admin_key)).status_code == 201


# --- Sources --------------------------------------------------------------------------------------------------


async def test_source_create_read_resend_conflict_and_correct(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    created = await write_client.post("/v1/sources", json=source(), headers=ingest_headers)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/v1/sources/test-report-2017-03-02"
    read = (await write_client.get("/v1/sources/test-report-2017-03-02")).json()
    assert (read["title"], read["published_on"], read["events"]) == (
        "Syrian army retakes Palmyra",
        "2017-03-02",
        0,
    )
    assert (await write_client.post("/v1/sources", json=source(), headers=ingest_headers)).status_code == 200
    other = await write_client.post("/v1/sources", json=source(publisher="Other"), headers=ingest_headers)
    assert other.status_code == 409
    assert [e["field"] for e in other.json()["errors"]] == ["publisher"]
    patched = await write_client.patch(
        "/v1/sources/test-report-2017-03-02", json={"publisher": "Other"}, headers=ingest_headers
    )
    assert patched.status_code == 200
    assert (await write_client.get("/v1/sources/test-report-2017-03-02")).json()["publisher"] == "Other"


async def test_an_event_can_cite_a_source_added_through_the_api(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    await write_client.post("/v1/sources", json=source(), headers=ingest_headers)
    await write_client.post("/v1/places", json=place(), headers=ingest_headers)
    event = {
        "external_id": "test-qaryatayn-2017-04-03",
        "place": "Qaryatayn",
        "date": "2017-04-03",
        "kind": "recaptured",
        "actor": "syrian-army",
        "status": "controlled",
        "sources": ["test-report-2017-03-02"],
    }
    assert (await write_client.post("/v1/events", json=event, headers=ingest_headers)).status_code == 201
    control = (await write_client.get("/v1/places/القريتين/control", params={"at": "2017-05-01"})).json()
    assert control["controller"]["slug"] == "syrian-army"
    assert control["event"]["sources"][0]["slug"] == "test-report-2017-03-02"


async def test_a_source_sharing_another_sources_url_is_warned_about(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    url = "https://rferl.org/amp/tracking-islamic-state-success-vs-assad/28253388.html"
    response = await write_client.post("/v1/sources", json=source(url=url), headers=ingest_headers)
    assert response.status_code == 201
    [warning] = response.json()["warnings"]
    assert warning["field"] == "url"
    assert warning["others"][0]["slug"] == "rferl-miller-2017-is-collapsing"


# --- Actors ---------------------------------------------------------------------------------------------------


async def test_actor_create_read_resend_and_conflict(
    write_client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    created = await write_client.post("/v1/actors", json=actor(parent="syrian-army"), headers=admin_headers)
    assert created.status_code == 201, created.text
    assert created.json()["warnings"] == []
    read = (await write_client.get("/v1/actors/liwa-al-quds")).json()
    assert (read["name"], read["aliases"], read["parent"]["slug"]) == (
        "Liwa al-Quds",
        ["Al-Quds Brigade"],
        "syrian-army",
    )
    again = await write_client.post("/v1/actors", json=actor(parent="syrian-army"), headers=admin_headers)
    assert again.status_code == 200
    other = await write_client.post("/v1/actors", json=actor(kind="armed_group"), headers=admin_headers)
    assert other.status_code == 409
    assert [e["field"] for e in other.json()["errors"]] == ["kind", "parent"]


async def test_actor_writes_need_an_admin_key(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    refused = await write_client.post("/v1/actors", json=actor(), headers=ingest_headers)
    assert refused.status_code == 403
    assert "'admin'" in refused.json()["detail"]
    assert (await write_client.post("/v1/actors", json=actor())).status_code == 401
    patch = await write_client.patch(
        "/v1/actors/syrian-army", json={"color": "#000000"}, headers=ingest_headers
    )
    assert patch.status_code == 403
    assert (await write_client.get("/v1/actors/liwa-al-quds")).status_code == 404


async def test_unknown_parent_actor_is_422_with_suggestions(
    write_client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await write_client.post("/v1/actors", json=actor(parent="syrian-armyy"), headers=admin_headers)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "parent" and error["suggestions"][0]["slug"] == "syrian-army"


async def test_patch_actor_and_an_alias_shared_with_another_actor_is_warned_about(
    write_client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await write_client.post("/v1/actors", json=actor(), headers=admin_headers)
    response = await write_client.patch(
        "/v1/actors/liwa-al-quds", json={"aliases": ["Al-Quds Brigade", "NDF"]}, headers=admin_headers
    )
    assert response.status_code == 200, response.text
    [warning] = response.json()["warnings"]
    assert (warning["name"], warning["field"], warning["others"][0]["slug"]) == (
        "NDF",
        "aliases",
        "syrian-army",
    )
    assert (await write_client.get("/v1/actors/liwa-al-quds")).json()["aliases"] == ["Al-Quds Brigade", "NDF"]


async def test_actor_parent_cycle_is_refused(
    write_client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await write_client.post("/v1/actors", json=actor(parent="syrian-army"), headers=admin_headers)
    response = await write_client.patch(
        "/v1/actors/syrian-army", json={"parent": "liwa-al-quds"}, headers=admin_headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "parent"


# --- Coalitions and memberships -------------------------------------------------------------------------------


async def test_coalition_with_members_create_read_resend_and_conflict(
    write_client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    created = await write_client.post("/v1/coalitions", json=coalition(), headers=admin_headers)
    assert created.status_code == 201, created.text
    read = (await write_client.get("/v1/coalitions/test-coalition")).json()
    assert [(m["actor"]["slug"], m["from"], m["to"]) for m in read["members"]] == [
        ("russia", "2015-09-30", None),
        ("syrian-army", "2015-01-01", "2016-01-01"),
    ]
    on_date = (await write_client.get("/v1/coalitions/test-coalition", params={"at": "2016-06-01"})).json()
    assert [m["actor"]["slug"] for m in on_date["members"]] == ["russia"]
    assert (
        await write_client.post("/v1/coalitions", json=coalition(), headers=admin_headers)
    ).status_code == 200
    other = await write_client.post("/v1/coalitions", json=coalition(color="#654321"), headers=admin_headers)
    assert other.status_code == 409
    assert [e["field"] for e in other.json()["errors"]] == ["color"]
    # A member listed on a resend that is not stored is other content too.
    more = coalition(members=[{"actor": "hezbollah", "from": "2015-01-01"}])
    missing = await write_client.post("/v1/coalitions", json=more, headers=admin_headers)
    assert missing.status_code == 409
    assert missing.json()["errors"][0]["field"] == "members.0"


async def test_actor_memberships_show_a_new_coalition(
    write_client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await write_client.post("/v1/coalitions", json=coalition(), headers=admin_headers)
    memberships = (await write_client.get("/v1/actors/russia")).json()["memberships"]
    assert "test-coalition" in [m["coalition"]["slug"] for m in memberships]
    control = (await write_client.get("/v1/places/palmyra/control", params={"at": "2016-04-01"})).json()
    assert control["controller"]["slug"] == "syrian-army"
    assert "test-coalition" not in [
        c["slug"] for c in control["coalitions"]
    ]  # syrian-army left on 2016-01-01
    earlier = (await write_client.get("/v1/places/palmyra/control", params={"at": "2015-03-01"})).json()
    assert earlier["controller"]["slug"] == "syrian-army"
    assert "test-coalition" in [c["slug"] for c in earlier["coalitions"]]


async def test_coalition_with_overlapping_members_in_the_request_is_422(
    write_client: httpx.AsyncClient, admin_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    members = [
        {"actor": "syrian-army", "from": "2015-01-01", "to": "2016-01-01"},
        {"actor": "SAA", "from": "2015-06-01"},  # the same actor, by an alias
    ]
    response = await write_client.post(
        "/v1/coalitions", json=coalition(members=members), headers=admin_headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "members.1"
    assert await count(write_engine, "SELECT count(*) FROM coalition WHERE slug = 'test-coalition'") == 0


async def test_membership_with_unknown_actor_is_422_with_suggestions(
    write_client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await write_client.post(
        "/v1/coalitions/pro-assad-coalition/members",
        json={"actor": "hezbolah", "from": "2012-01-01"},
        headers=admin_headers,
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "actor" and error["suggestions"][0]["slug"] == "hezbollah"
    in_create = await write_client.post(
        "/v1/coalitions", json=coalition(members=[{"actor": "rusia"}]), headers=admin_headers
    )
    assert in_create.status_code == 422
    assert in_create.json()["errors"][0]["field"] == "members.0.actor"


async def test_add_membership_then_resend_then_read_it(
    write_client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await write_client.post("/v1/actors", json=actor(), headers=admin_headers)
    body = {"actor": "liwa-al-quds", "from": "2013-10-01", "note": "Palestinian militia in Aleppo"}
    created = await write_client.post(
        "/v1/coalitions/pro-assad-coalition/members", json=body, headers=admin_headers
    )
    assert created.status_code == 201, created.text
    membership = created.json()
    assert created.headers["location"] == f"/v1/coalitions/pro-assad-coalition/members/{membership['id']}"
    assert (membership["actor"]["slug"], membership["from"], membership["to"]) == (
        "liwa-al-quds",
        "2013-10-01",
        None,
    )
    again = await write_client.post(
        "/v1/coalitions/pro-assad-coalition/members", json=body, headers=admin_headers
    )
    assert (again.status_code, again.json()["id"]) == (200, membership["id"])
    assert (await write_client.get(created.headers["location"])).json() == membership
    members = (
        await write_client.get("/v1/coalitions/pro-assad-coalition", params={"at": "2016-01-01"})
    ).json()
    assert "liwa-al-quds" in [m["actor"]["slug"] for m in members["members"]]


async def test_overlapping_membership_is_409_naming_the_existing_one_and_nothing_is_stored(
    write_client: httpx.AsyncClient, admin_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    stored = (await write_client.get("/v1/coalitions/pro-assad-coalition")).json()["members"]
    [russia] = [m for m in stored if m["actor"]["slug"] == "russia"]
    before = await count(write_engine, "SELECT count(*) FROM coalition_membership")
    response = await write_client.post(
        "/v1/coalitions/pro-assad-coalition/members",
        json={"actor": "russia", "from": "2016-01-01", "to": "2017-01-01", "role": "supporter"},
        headers=admin_headers,
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert [o["id"] for o in problem["overlaps"]] == [russia["id"]]
    assert f"membership {russia['id']}" in problem["detail"]
    assert f"/v1/coalitions/pro-assad-coalition/members/{russia['id']}" in problem["detail"]
    assert "excl_coalition_membership_overlap" not in problem["detail"]
    assert await count(write_engine, "SELECT count(*) FROM coalition_membership") == before


async def test_end_a_membership_with_patch_then_delete_it(
    write_client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await write_client.post("/v1/coalitions", json=coalition(), headers=admin_headers)
    members = (await write_client.get("/v1/coalitions/test-coalition")).json()["members"]
    [russia] = [m for m in members if m["actor"]["slug"] == "russia"]
    url = f"/v1/coalitions/test-coalition/members/{russia['id']}"
    ended = await write_client.patch(url, json={"to": "2017-01-01"}, headers=admin_headers)
    assert ended.status_code == 200, ended.text
    assert (ended.json()["from"], ended.json()["to"]) == ("2015-09-30", "2017-01-01")
    after = (await write_client.get("/v1/coalitions/test-coalition", params={"at": "2017-01-01"})).json()
    assert after["members"] == []
    bad = await write_client.patch(url, json={"to": "2015-01-01"}, headers=admin_headers)
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["to"]
    removed = await write_client.delete(url, headers=admin_headers)
    assert removed.status_code == 200
    assert [m["actor"]["slug"] for m in removed.json()["members"]] == ["syrian-army"]
    assert (await write_client.get(url)).status_code == 404
    assert (await write_client.delete(url, headers=admin_headers)).status_code == 404


async def test_patch_that_makes_a_membership_overlap_is_409_naming_the_other(
    write_client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    await write_client.post("/v1/coalitions", json=coalition(), headers=admin_headers)
    later = await write_client.post(
        "/v1/coalitions/test-coalition/members",
        json={"actor": "syrian-army", "from": "2017-01-01"},
        headers=admin_headers,
    )
    assert later.status_code == 201
    members = (await write_client.get("/v1/coalitions/test-coalition")).json()["members"]
    first = next(m for m in members if m["actor"]["slug"] == "syrian-army" and m["from"] == "2015-01-01")
    response = await write_client.patch(
        f"/v1/coalitions/test-coalition/members/{first['id']}", json={"to": None}, headers=admin_headers
    )
    assert response.status_code == 409
    assert [o["id"] for o in response.json()["overlaps"]] == [later.json()["id"]]
    unchanged = (await write_client.get(f"/v1/coalitions/test-coalition/members/{first['id']}")).json()
    assert unchanged["to"] == "2016-01-01"


async def test_coalition_and_membership_writes_need_an_admin_key(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    assert (
        await write_client.post("/v1/coalitions", json=coalition(), headers=ingest_headers)
    ).status_code == 403
    member = {"actor": "hezbollah", "from": "2011-01-01"}
    url = "/v1/coalitions/pro-assad-coalition/members"
    assert (await write_client.post(url, json=member, headers=ingest_headers)).status_code == 403
    assert (await write_client.post(url, json=member)).status_code == 401
    assert (
        await write_client.patch("/v1/coalitions/pro-assad-coalition", json={"name": "x"})
    ).status_code == 401
    assert await count(write_engine, "SELECT count(*) FROM coalition WHERE slug = 'test-coalition'") == 0


async def test_patch_coalition_changes_what_get_shows(
    write_client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await write_client.patch(
        "/v1/coalitions/pro-assad-coalition",
        json={"description": "Changed.", "color": "#ABCDEF"},
        headers=admin_headers,
    )
    assert response.status_code == 200
    read = (await write_client.get("/v1/coalitions/pro-assad-coalition")).json()
    assert (read["description"], read["color"]) == ("Changed.", "#ABCDEF")
    unknown = await write_client.patch("/v1/coalitions/pro-asad", json={"name": "x"}, headers=admin_headers)
    assert unknown.status_code == 404
    assert unknown.json()["suggestions"][0]["slug"] == "pro-assad-coalition"


# --- Concurrent writers ---------------------------------------------------------------------------------------


async def test_concurrent_identical_creates_store_one_place(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    responses = await asyncio.gather(
        *(write_client.post("/v1/places", json=place(), headers=ingest_headers) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count(write_engine, "SELECT count(*) FROM place WHERE slug = 'al-qaryatayn'") == 1


async def test_concurrent_memberships_of_one_actor_store_one_and_explain_the_other(
    write_client: httpx.AsyncClient, admin_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    await write_client.post("/v1/actors", json=actor(), headers=admin_headers)
    url = "/v1/coalitions/pro-assad-coalition/members"
    same = {"actor": "liwa-al-quds", "from": "2013-10-01"}
    other = {"actor": "liwa-al-quds", "from": "2014-01-01"}
    responses = await asyncio.gather(
        *(write_client.post(url, json=body, headers=admin_headers) for body in (same, same, other))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses in ([200, 201, 409], [201, 409, 409]), [r.text for r in responses]
    refused = [r for r in responses if r.status_code == 409]
    assert all(r.json()["overlaps"][0]["actor"]["slug"] == "liwa-al-quds" for r in refused)
    stored = await count(
        write_engine,
        "SELECT count(*) FROM coalition_membership m JOIN actor a ON a.id = m.actor_id WHERE a.slug = 'liwa-al-quds'",
    )
    assert stored == 1
