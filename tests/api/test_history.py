"""History everywhere: a correction of any resource changes today's answers, not those as of before it; each
resource's /history keeps every version; the feed carries the changes when asked (`resources`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.test_corrections import moment


async def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    return await ok(await client.get(path, params=params))


async def changes_since(client: httpx.AsyncClient, since: str) -> list[dict[str, Any]]:
    """Every feed item (any resource) recorded at or after `since`."""
    items: list[dict[str, Any]] = []
    page = await get(client, "/v1/events", resources="all", since=since, limit=1000)
    items += page["items"]
    while page["next"]:
        page = await ok(await client.get(page["next"]))
        items += page["items"]
    return items


async def test_a_corrected_membership_changes_today_but_not_as_of_before_it(
    write_client: httpx.AsyncClient, admin_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    at = "2017-06-05"
    control = await get(write_client, "/v1/places/palmyra/control", at=at)
    holder, coalitions = control["controller"]["slug"], control["coalitions"]
    assert coalitions, "the seed's holder of Palmyra on that day belongs to a coalition"
    coalition = coalitions[0]["slug"]
    members = (await get(write_client, f"/v1/coalitions/{coalition}", at=at))["members"]
    membership = next(m for m in members if m["actor"]["slug"] == holder)
    assert membership["from"] < "2017-01-01"
    before = await moment(write_engine)

    corrected = await write_client.patch(
        f"/v1/coalitions/{coalition}/members/{membership['id']}",
        json={"to": "2017-01-01"},
        headers=admin_headers,
    )
    assert corrected.status_code == 200, corrected.text

    # Today's answers: the holder was no longer a member on that day.
    assert (await get(write_client, "/v1/places/palmyra/control", at=at))["coalitions"] == []
    assert holder not in [
        m["actor"]["slug"] for m in (await get(write_client, f"/v1/coalitions/{coalition}", at=at))["members"]
    ]
    live_map = await get(write_client, "/v1/control", at=at)
    palmyra = next(f for f in live_map["features"] if f["properties"]["slug"] == "palmyra")
    assert palmyra["properties"]["coalitions"] == []
    # As of before the correction: every answer as it was given then.
    then = await get(write_client, "/v1/places/palmyra/control", at=at, as_of=before)
    assert then["coalitions"] == coalitions
    assert holder in [
        m["actor"]["slug"]
        for m in (await get(write_client, f"/v1/coalitions/{coalition}", at=at, as_of=before))["members"]
    ]
    old_map = await get(write_client, "/v1/control", at=at, as_of=before)
    palmyra = next(f for f in old_map["features"] if f["properties"]["slug"] == "palmyra")
    assert palmyra["properties"]["coalitions"] == coalitions
    path = f"/v1/coalitions/{coalition}/members/{membership['id']}"
    assert (await get(write_client, path))["to"] == "2017-01-01"
    assert (await get(write_client, path, as_of=before))["to"] == membership["to"]
    actor_then = await get(write_client, f"/v1/actors/{holder}", as_of=before)
    assert [m["to"] for m in actor_then["memberships"] if m["id"] == membership["id"]] == [membership["to"]]

    # The coalition's history and the actor's both hold the two versions of the membership.
    for history_path in (f"/v1/coalitions/{coalition}/history", f"/v1/actors/{holder}/history"):
        history = await get(write_client, history_path)
        versions = [
            v
            for v in history["versions"]
            if v["resource"] == "coalition_membership" and v["id"] == membership["id"]
        ]
        assert [(v["version"], v["change"]) for v in versions] == [(1, "created"), (2, "corrected")]
        assert versions[0]["recorded_until"] == versions[1]["recorded_from"]
        assert (versions[0]["data"]["valid"], versions[1]["data"]["valid"]) != (None, None)
        assert versions[1]["recorded_until"] is None

    # The feed carries the change, at a position, only when asked for it.
    items = await changes_since(write_client, before)
    assert [(i["resource"], i["id"], i["change"]) for i in items] == [
        ("coalition_membership", membership["id"], "corrected")
    ]
    assert items[0]["position"] is not None
    events_only = await get(write_client, "/v1/events", since=before)
    assert events_only["items"] == []


async def test_every_versioned_resource_answers_as_of_before_its_correction(
    write_client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    ingest_headers: dict[str, str],
    write_engine: AsyncEngine,
) -> None:
    at = "2016-12-20"  # Palmyra held by IS, inside its territories and front lines of the time
    control = await get(write_client, "/v1/places/palmyra/control", at=at)
    actor = control["controller"]
    source = (await get(write_client, "/v1/sources"))[0]
    coalition = (await get(write_client, "/v1/coalitions"))[0]
    territory = (await get(write_client, "/v1/territories", at=at))["features"][0]
    front_line = (await get(write_client, "/v1/frontlines", at=at))["features"][0]
    before = await moment(write_engine)

    writes = [
        write_client.patch("/v1/places/palmyra", json={"name": "Tadmur"}, headers=ingest_headers),
        write_client.post(
            "/v1/places/palmyra/names", json={"names": [{"name": "Palmyra Oasis"}]}, headers=ingest_headers
        ),
        write_client.patch(f"/v1/actors/{actor['slug']}", json={"name": "Daesh"}, headers=admin_headers),
        write_client.patch(
            f"/v1/coalitions/{coalition['slug']}", json={"name": "Renamed coalition"}, headers=admin_headers
        ),
        write_client.patch(
            f"/v1/sources/{source['slug']}", json={"title": "A corrected title"}, headers=ingest_headers
        ),
    ]
    for write in writes:
        response = await write
        assert response.status_code in (200, 201), response.text
    # Territories and front lines change through ingestion or any other writer: the triggers keep them all.
    async with write_engine.begin() as connection:
        await connection.execute(text("UPDATE territory SET notes = 'redrawn' WHERE id = :id"), territory)
        await connection.execute(text("UPDATE front_line SET notes = 'redrawn' WHERE id = :id"), front_line)

    now = await get(write_client, "/v1/places/palmyra")
    then = await get(write_client, "/v1/places/palmyra", as_of=before)
    assert (now["name"], then["name"]) == ("Tadmur", "Palmyra")
    assert "Palmyra Oasis" in [n["name"] for n in now["names"]]
    assert "Palmyra Oasis" not in [n["name"] for n in then["names"]]
    by_new_spelling = f"/v1/places/{quote('Palmyra Oasis')}/control"
    assert (await get(write_client, by_new_spelling, at=at))["place"]["slug"] == "palmyra"
    assert (await write_client.get(by_new_spelling, params={"at": at, "as_of": before})).status_code == 404
    found = await get(write_client, "/v1/places", q="Palmyra Oasis")
    found_then = await get(write_client, "/v1/places", q="Palmyra Oasis", as_of=before)
    assert found["items"][0]["matched_name"] == "Palmyra Oasis"
    assert "Palmyra Oasis" not in [i["matched_name"] for i in found_then["items"]]

    assert (await get(write_client, "/v1/places/palmyra/control", at=at))["controller"]["name"] == "Daesh"
    old = await get(write_client, "/v1/places/palmyra/control", at=at, as_of=before)
    assert old["controller"] == actor and old["place"]["name"] == "Palmyra"
    assert (await get(write_client, f"/v1/actors/{actor['slug']}", as_of=before))["name"] == actor["name"]
    assert actor["name"] in [a["name"] for a in await get(write_client, "/v1/actors", as_of=before)]

    names = [c["name"] for c in await get(write_client, "/v1/coalitions")]
    names_then = [c["name"] for c in await get(write_client, "/v1/coalitions", as_of=before)]
    assert "Renamed coalition" in names and coalition["name"] in names_then
    assert "Renamed coalition" not in names_then

    path = f"/v1/sources/{source['slug']}"
    assert (await get(write_client, path))["title"] == "A corrected title"
    assert (await get(write_client, path, as_of=before))["title"] == source["title"]
    assert source["title"] in [s["title"] for s in await get(write_client, "/v1/sources", as_of=before)]

    for kind, feature in (("territories", territory), ("frontlines", front_line)):
        one = f"/v1/{kind}/{feature['id']}"
        assert (await get(write_client, one))["properties"]["notes"] == "redrawn"
        assert (await get(write_client, one, as_of=before))["properties"]["notes"] == feature["properties"][
            "notes"
        ]
        on_map = await get(write_client, f"/v1/{kind}", at=at, as_of=before)
        assert [f["properties"]["notes"] for f in on_map["features"] if f["id"] == feature["id"]] == [
            feature["properties"]["notes"]
        ]

    # Each resource's history ends with the correction; the feed carries one change of each.
    histories = {
        ("place", now["id"]): "/v1/places/palmyra/history",
        ("actor", None): f"/v1/actors/{actor['slug']}/history",
        ("coalition", None): f"/v1/coalitions/{coalition['slug']}/history",
        ("source", None): f"/v1/sources/{source['slug']}/history",
        ("territory", territory["id"]): f"/v1/territories/{territory['id']}/history",
        ("front_line", front_line["id"]): f"/v1/frontlines/{front_line['id']}/history",
    }
    for (resource, _), history_path in histories.items():
        history = await get(write_client, history_path)
        assert history["resource"] == resource
        own = [v for v in history["versions"] if v["resource"] == resource]
        assert [v["change"] for v in own] == ["created", "corrected"], history_path
        assert own[0]["recorded_until"] == own[1]["recorded_from"] > before
    place_history = await get(write_client, "/v1/places/palmyra/history")
    spelling = [v for v in place_history["versions"] if v["data"]["name"] == "Palmyra Oasis"]
    assert [(v["resource"], v["change"]) for v in spelling] == [("place_name", "created")]

    items = await changes_since(write_client, before)
    assert sorted(i["resource"] for i in items) == sorted(
        ["place", "place_name", "actor", "coalition", "source", "territory", "front_line"]
    )
    positions = [i["position"] for i in items]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    only_places = await get(write_client, "/v1/events", resources="place", since=before)
    assert [(i["resource"], i["data"]["name"]) for i in only_places["items"]] == [("place", "Tadmur")]


async def test_a_deleted_membership_keeps_its_history_and_its_past(
    write_client: httpx.AsyncClient, admin_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    coalition = (await get(write_client, "/v1/coalitions"))[0]["slug"]
    membership = (await get(write_client, f"/v1/coalitions/{coalition}"))["members"][0]
    before = await moment(write_engine)
    path = f"/v1/coalitions/{coalition}/members/{membership['id']}"
    assert (await write_client.delete(path, headers=admin_headers)).status_code == 200

    assert (await write_client.get(path)).status_code == 404
    assert (await get(write_client, path, as_of=before))["id"] == membership["id"]
    history = await get(write_client, f"/v1/coalitions/{coalition}/history")
    versions = [
        v
        for v in history["versions"]
        if (v["resource"], v["id"]) == ("coalition_membership", membership["id"])
    ]
    assert [v["change"] for v in versions] == ["created", "deleted"]
    assert versions[1]["data"]["actor_id"] == versions[0]["data"]["actor_id"]
    assert [(i["resource"], i["change"]) for i in await changes_since(write_client, before)] == [
        ("coalition_membership", "deleted")
    ]


async def test_a_write_that_changes_nothing_records_no_version(
    write_client: httpx.AsyncClient, write_engine: AsyncEngine
) -> None:
    async with write_engine.begin() as connection:
        await connection.execute(text("UPDATE place SET name = name"))
        await connection.execute(text("UPDATE territory SET notes = notes"))
    history = await get(write_client, "/v1/places/palmyra/history")
    assert {v["change"] for v in history["versions"]} == {"created"}


async def test_a_row_written_twice_in_one_transaction_has_one_version(write_engine: AsyncEngine) -> None:
    async with write_engine.begin() as connection:
        await connection.execute(
            text("UPDATE source SET notes = 'one' WHERE id = (SELECT min(id) FROM source)")
        )
        await connection.execute(
            text("UPDATE source SET notes = 'two' WHERE id = (SELECT min(id) FROM source)")
        )
    async with write_engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT version, change, notes, position IS NOT NULL AS numbered FROM source_version "
                    "WHERE source_id = (SELECT min(id) FROM source) ORDER BY version"
                )
            )
        ).all()
    assert [(r.version, r.change, r.notes, r.numbered) for r in rows][1:] == [(2, "corrected", "two", True)]


async def test_history_pages_follow_their_next_link(client: httpx.AsyncClient) -> None:
    whole = await get(client, "/v1/places/palmyra/history")
    assert len(whole["versions"]) > 2 and whole["next"] is None
    assert whole["slug"] == "palmyra"
    paged: list[dict[str, Any]] = []
    page = await get(client, "/v1/places/palmyra/history", limit=2)
    paged += page["versions"]
    while page["next"]:
        page = await ok(await client.get(page["next"]))
        paged += page["versions"]
    assert paged == whole["versions"]


async def test_unknown_history_and_bad_resources_are_problems(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/territories/2000000000/history")).status_code == 404
    assert (await client.get("/v1/frontlines/2000000000")).status_code == 404
    assert (await client.get("/v1/actors/nobody-at-all/history")).status_code == 404
    for params in (
        {"resources": "planets"},
        {"resources": "all", "order": "newest"},
        {"resources": "place", "place": "palmyra"},
        {"resources": ","},
    ):
        response = await client.get("/v1/events", params=params)
        assert response.status_code == 400, params
        assert response.json()["errors"][0]["field"] == "resources"
