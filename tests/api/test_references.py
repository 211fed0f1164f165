"""A reference that names nothing is the same problem on every surface: a 404 in the path or a query filter,
a 422 in a body (each entry naming its field), and always the closest names."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.api.test_events_write import count, event
from tests.api.test_registry_write import actor
from tests.api.test_registry_write import place as new_place
from tests.api.test_territories_write import collection, territory
from tests.factories import make_actor

PROBLEM_JSON = "application/problem+json"
SOURCE = "rferl-miller-2017-is-collapsing"
TITLES = {"place": "Place not found", "actor": "Actor not found", "coalition": "Coalition not found"}
TITLES["source"] = "Source not found"


def entry(problem: dict[str, Any], field: str) -> dict[str, Any]:
    [error] = [e for e in problem["errors"] if e["field"] == field]
    return error


def assert_unknown(
    response: httpx.Response,
    *,
    kind: str,
    ref: str,
    location: str,
    field: str,
    closest: str,
    index: int | None = None,
) -> None:
    """The one shape: status by location, title by kind, an `errors` entry with field, reason, suggestions."""
    assert response.status_code == (422 if location == "body" else 404), response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    error = entry(problem, field)
    assert error["location"] == location
    assert error["reason"].startswith(f"no {kind} is known as '{ref}'; did you mean {closest}")
    assert error["suggestions"][0]["slug"] == closest
    assert {"slug", "name", "score"} <= set(error["suggestions"][0])
    if index is not None:
        assert error["index"] == index
    if location != "body":
        assert problem["title"] == TITLES[kind]
        assert problem["suggestions"] == error["suggestions"]
        assert problem["detail"].startswith(f"No {kind} is known as '{ref}'. Did you mean ")


# (kind, typo, closest, method, path, query, body, key scope, field)
PATH_AND_QUERY = [
    ("place", "Palmira", "palmyra", "GET", "/v1/places/Palmira", None, None, None, "place"),
    ("place", "Palmira", "palmyra", "GET", "/v1/places/Palmira/control", None, None, None, "place"),
    ("place", "Palmira", "palmyra", "PATCH", "/v1/places/Palmira", None, {"population": 1}, "ingest", "slug"),
    ("place", "Palmira", "palmyra", "GET", "/v1/events", {"place": "Palmira"}, None, None, "place"),
    ("actor", "islamic-stat", "islamic-state", "PATCH", "/v1/actors/islamic-stat", None, {"notes": "x"}, "admin", "slug"),
    ("actor", "islamic-stat", "islamic-state", "GET", "/v1/events", {"actor": "islamic-stat"}, None, None, "actor"),
    ("coalition", "pro-asad", "pro-assad-coalition", "PATCH", "/v1/coalitions/pro-asad", None, {"name": "x"}, "admin", "slug"),
    ("coalition", "pro-asad", "pro-assad-coalition", "POST", "/v1/coalitions/pro-asad/members", None, {"actor": "hezbollah"}, "admin", "slug"),
    ("coalition", "pro-asad", "pro-assad-coalition", "GET", "/v1/coalitions/pro-asad/members/1", None, None, None, "slug"),
    ("source", "rferl-miler-2017-is-collapsing", SOURCE, "GET", "/v1/sources/rferl-miler-2017-is-collapsing", None, None, None, "slug"),
    ("actor", "islamic-stat", "islamic-state", "GET", "/v1/actors/islamic-stat", None, None, None, "slug"),
    ("coalition", "pro-asad", "pro-assad-coalition", "GET", "/v1/coalitions/pro-asad", None, None, None, "slug"),
    # Read filters: never an empty answer for a typo.
    ("actor", "islamic-stat", "islamic-state", "GET", "/v1/control", {"actor": "islamic-stat"}, None, None, "actor"),
    ("coalition", "pro-asad", "pro-assad-coalition", "GET", "/v1/control", {"coalition": "pro-asad"}, None, None, "coalition"),
    ("coalition", "pro-asad", "pro-assad-coalition", "GET", "/v1/control", {"coalition": "pro-asad", "actor": "syrian-army", "as_of": "2030-01-01T00:00:00Z"}, None, None, "coalition"),
    ("actor", "islamic-stat", "islamic-state", "GET", "/v1/changes", {"actor": "islamic-stat", "from": "2016-12-01", "to": "2016-12-31"}, None, None, "actor"),
    ("actor", "islamic-stat", "islamic-state", "GET", "/v1/territories", {"actor": "islamic-stat"}, None, None, "actor"),
    ("coalition", "pro-asad", "pro-assad-coalition", "GET", "/v1/territories", {"coalition": "pro-asad"}, None, None, "coalition"),
    ("actor", "islamic-stat", "islamic-state", "GET", "/v1/territories/diff", {"actor": "islamic-stat", "from": "2016-12-01", "to": "2016-12-31"}, None, None, "actor"),
    ("source", "rferl-miler-2017-is-collapsing", SOURCE, "PATCH", "/v1/sources/rferl-miler-2017-is-collapsing", None, {"notes": "x"}, "ingest", "slug"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "ref", "closest", "method", "path", "query", "body", "scope", "field"), PATH_AND_QUERY
)
async def test_an_unknown_reference_in_the_path_or_a_filter_is_a_404_with_suggestions(
    write_client: httpx.AsyncClient,
    ingest_headers: dict[str, str],
    admin_headers: dict[str, str],
    kind: str,
    ref: str,
    closest: str,
    method: str,
    path: str,
    query: dict[str, str] | None,
    body: dict[str, Any] | None,
    scope: str | None,
    field: str,
) -> None:
    headers = {"ingest": ingest_headers, "admin": admin_headers}.get(scope or "", {})
    response = await write_client.request(method, path, params=query, json=body, headers=headers)
    location = "query" if query else "path"
    assert_unknown(response, kind=kind, ref=ref, location=location, field=field, closest=closest)


# (kind, typo, closest, path, body, key scope, field, index)
BODIES = [
    ("place", "Palmira", "palmyra", "/v1/events", event(place="Palmira"), "ingest", "place", None),
    ("actor", "islamic-stat", "islamic-state", "/v1/events", event(loses="islamic-stat"), "ingest", "loses", None),
    ("source", "rferl-miler-2017-is-collapsing", SOURCE, "/v1/events", event(sources=["rferl-miler-2017-is-collapsing"]), "ingest", "sources", None),
    ("place", "Palmira", "palmyra", "/v1/places", new_place(parent="Palmira"), "ingest", "parent", None),
    ("actor", "syrian-armyy", "syrian-army", "/v1/actors", actor(parent="syrian-armyy"), "admin", "parent", None),
    ("actor", "hezbolah", "hezbollah", "/v1/coalitions/pro-assad-coalition/members", {"actor": "hezbolah"}, "admin", "actor", None),
    ("source", "rferl-miler-2017-is-collapsing", SOURCE, "/v1/coalitions/pro-assad-coalition/members", {"actor": "hezbollah", "from": "2019-01-01", "source": "rferl-miler-2017-is-collapsing"}, "admin", "source", None),
    ("actor", "syrian-armyy", "syrian-army", "/v1/territories", territory(actor="syrian-armyy"), "ingest", "properties.actor", None),
    ("source", "wp-tiyas-airbse", "wp-tiyas-airbase", "/v1/territories", territory(source="wp-tiyas-airbse"), "ingest", "properties.source", None),
    # Batches: every row's problems, each with its index.
    ("actor", "islamic-stat", "islamic-state", "/v1/events/batch", {"events": [event(), event(external_id="test-b", actor="islamic-stat")]}, "ingest", "actor", 1),
    ("place", "Palmira", "palmyra", "/v1/events/batch", {"events": [event(place="Palmira"), event(external_id="test-b")]}, "ingest", "place", 0),
    ("actor", "syrian-armyy", "syrian-army", "/v1/territories/batch", collection(territory(), territory("test-b", actor="syrian-armyy")), "ingest", "properties.actor", 1),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "ref", "closest", "path", "body", "scope", "field", "index"), BODIES)
async def test_an_unknown_reference_in_a_body_is_a_422_entry_with_suggestions(
    write_client: httpx.AsyncClient,
    write_engine: AsyncEngine,
    ingest_headers: dict[str, str],
    admin_headers: dict[str, str],
    kind: str,
    ref: str,
    closest: str,
    path: str,
    body: dict[str, Any],
    scope: str,
    field: str,
    index: int | None,
) -> None:
    headers = {"ingest": ingest_headers, "admin": admin_headers}[scope]
    before = await count(write_engine, "SELECT count(*) FROM control_event")
    response = await write_client.post(path, json=body, headers=headers)
    assert_unknown(response, kind=kind, ref=ref, location="body", field=field, closest=closest, index=index)
    assert await count(write_engine, "SELECT count(*) FROM control_event") == before  # nothing recorded


FILTERED_READS = [
    ("/v1/control", {"at": "2016-12-20"}),
    ("/v1/changes", {"from": "2016-12-01", "to": "2016-12-31"}),
    ("/v1/territories", {"at": "2016-12-20"}),
    ("/v1/territories/diff", {"from": "2016-12-01", "to": "2016-12-31"}),
    ("/v1/events", {"limit": 500}),
]


@pytest.mark.parametrize(("path", "query"), FILTERED_READS)
async def test_a_read_filtered_by_an_alias_answers_what_the_slug_does(
    client: httpx.AsyncClient, path: str, query: dict[str, Any]
) -> None:
    by_slug = await client.get(path, params=query | {"actor": "islamic-state"})
    by_alias = await client.get(path, params=query | {"actor": "Daesh"})
    assert by_slug.status_code == by_alias.status_code == 200, by_alias.text
    assert by_alias.content == by_slug.content
    assert by_slug.content != (await client.get(path, params=query | {"actor": "syrian-army"})).content


async def test_a_read_filtered_by_a_coalition_name_answers_what_the_slug_does(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/v1/control", "/v1/territories"):
        query = {"at": "2016-12-20", "coalition": "pro-assad-coalition"}
        by_slug = await client.get(path, params=query)
        by_name = await client.get(path, params=query | {"coalition": "Pro-Assad coalition"})
        assert by_name.status_code == 200 and by_name.content == by_slug.content
        assert by_slug.json()["features"], path  # the filter keeps the members' places, not none


async def test_any_reference_names_the_row_on_every_surface(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    # An alias in a filter, a name in a path, a spelling in a body: each finds what its slug finds.
    by_alias = await write_client.get("/v1/events", params={"actor": "Daesh", "limit": 500})
    by_slug = await write_client.get("/v1/events", params={"actor": "islamic-state", "limit": 500})
    assert by_alias.status_code == 200 and by_alias.json()["items"] == by_slug.json()["items"] != []
    patched = await write_client.patch(
        "/v1/coalitions/Pro-Assad coalition", json={"color": "#123456"}, headers=admin_headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["location"] == "/v1/coalitions/pro-assad-coalition"  # the slug, whatever was sent
    member = await write_client.post(
        "/v1/coalitions/euphrates-shield/members",
        json={"actor": "Hizbullah", "from": "2030-01-01"},
        headers=admin_headers,
    )
    assert member.status_code == 201, member.text
    assert member.json()["actor"]["slug"] == "hezbollah"
    created = await write_client.post(
        "/v1/territories",
        json=territory(actor="saa"),
        headers=ingest_headers,  # the schema wants slug-shaped
    )
    assert created.status_code == 201, created.text
    stored = await write_client.get("/v1/territories", params={"at": "2016-12-20", "actor": "syrian-army"})
    assert "test-area" in {f["properties"]["external_id"] for f in stored.json()["features"]}


async def test_a_spelling_that_is_another_places_id_is_reported_shadowed(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    palmyra = (await write_client.get("/v1/places/palmyra")).json()["id"]
    response = await write_client.post(
        "/v1/places/raqqa/names", json={"names": [{"name": str(palmyra)}]}, headers=ingest_headers
    )
    assert response.status_code == 201, response.text
    [warning] = response.json()["warnings"]
    assert (warning["kind"], warning["others"][0]["slug"]) == ("shadowed", "palmyra")
    # As the warning says: a lookup by it finds the place whose id it is.
    assert (await write_client.get(f"/v1/places/{palmyra}")).json()["slug"] == "palmyra"


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/control", {}),
        ("/v1/changes", {"from": "2016-12-01", "to": "2016-12-31"}),
        ("/v1/territories", {}),
        ("/v1/events", {}),
        ("/v1/actors/Twin Brigade", None),
    ],
)
async def test_a_name_two_actors_share_is_a_409_listing_both(
    client: httpx.AsyncClient, conn: AsyncConnection, path: str, query: dict[str, str] | None
) -> None:
    await make_actor(conn, "test-twin-north", "Twin Brigade")
    await make_actor(conn, "test-twin-south", "Twin Brigade")
    params = None if query is None else query | {"actor": "twin brigade"}
    response = await client.get(path, params=params)
    assert response.status_code == 409, response.text
    problem = response.json()
    assert {c["slug"] for c in problem["candidates"]} == {"test-twin-north", "test-twin-south"}
    assert problem["errors"][0]["location"] == ("path" if query is None else "query")
    # By slug, each is found: the slug wins over a name.
    assert (await client.get("/v1/actors/test-twin-north")).status_code == 200
