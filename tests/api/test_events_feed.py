"""Reading what changed: the events list in recording order (a cursor that misses nothing, even under concurrent
writers), newest first, its filters and problems."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.engine import create_engine
from app.schemas.events import EventCreate
from app.services import events as writes
from app.services import keys
from app.services.keys import ApiKey
from tests.conftest import database_on

PLACES = ["palmyra", "raqqa", "al-bab"]
HOLDERS = ["syrian-army", "sdf", "turkish-backed-rebels"]


def new_event(n: int, **overrides: Any) -> dict[str, Any]:
    """Made-up events after the seed's period, one a day, so that no two clash: place and holder by n."""
    return {
        "external_id": f"feed-test-{n}",
        "place": PLACES[n % 3],
        "date": f"2018-{1 + n // 28:02d}-{1 + n % 28:02d}",
        "kind": "captured",
        "actor": HOLDERS[n % 3],
        "status": "controlled",
        "sources": ["rferl-miller-2017-is-collapsing"],
        **overrides,
    }


async def post_batch(client: httpx.AsyncClient, headers: dict[str, str], numbers: range) -> list[int]:
    response = await client.post(
        "/v1/events/batch", json={"events": [new_event(n) for n in numbers]}, headers=headers
    )
    assert response.status_code == 201, response.text
    return [item["id"] for item in response.json()["items"]]


async def walk(
    client: httpx.AsyncClient, url: str, pages: int | None = None
) -> tuple[list[dict[str, Any]], Any]:
    """Follow `next` links (at most `pages` of them); the items seen and the last answer."""
    items: list[dict[str, Any]] = []
    body: dict[str, Any] = {}
    while url and (pages is None or pages > 0):
        response = await client.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        url = body["next"]
        pages = None if pages is None else pages - 1
    return items, body


async def all_event_ids(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as connection:
        return list((await connection.scalars(text("SELECT id FROM control_event ORDER BY id"))).all())


async def test_recorded_order_cursor_sees_every_event_once_while_writes_go_on(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    seeded = await all_event_ids(write_engine)
    first = await post_batch(write_client, ingest_headers, range(0, 10))
    second = await post_batch(write_client, ingest_headers, range(10, 20))

    seen, last = await walk(write_client, "/v1/events?limit=7", pages=3)
    assert len(seen) == 21 and last["next"]
    third = await post_batch(write_client, ingest_headers, range(20, 30))  # while the reader is mid-way
    rest, last = await walk(write_client, last["next"])
    seen += rest

    ids = [item["id"] for item in seen]
    assert len(ids) == len(set(ids))  # nothing twice
    assert sorted(ids) == sorted(seeded + first + second + third)  # nothing missing
    assert ids[-30:] == first + second + third  # in recording order
    assert last["next"] is None and last["position"] == seen[-1]["position"]
    assert all(item["change"] == "created" and item["version"] == 1 for item in seen)

    # Polling from the last position: nothing new, and the position stays.
    again = (await write_client.get("/v1/events", params={"since": last["position"]})).json()
    assert again == {"items": [], "next": None, "position": last["position"]}


async def test_correction_and_retraction_move_the_event_to_a_new_position(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    [event_id] = await post_batch(write_client, ingest_headers, range(1))
    head = (await write_client.get("/v1/events", params={"limit": 1000})).json()
    created = head["items"][-1]
    assert (created["id"], created["change"], created["version"]) == (event_id, "created", 1)

    patched = await write_client.patch(
        f"/v1/events/{event_id}", json={"notes": "corrected for the feed"}, headers=ingest_headers
    )
    assert patched.status_code == 200, patched.text
    after = (await write_client.get("/v1/events", params={"since": head["position"]})).json()
    [corrected] = after["items"]
    assert (corrected["id"], corrected["change"], corrected["version"]) == (event_id, "corrected", 2)
    assert corrected["notes"] == "corrected for the feed" and corrected["position"] != created["position"]
    assert after["position"] == corrected["position"]
    # The whole list shows the event once, at its new position, in its new state.
    everything, _ = await walk(write_client, "/v1/events?limit=1000")
    assert [i for i in everything if i["id"] == event_id] == [corrected]

    assert (await write_client.delete(f"/v1/events/{event_id}", headers=ingest_headers)).status_code == 200
    [retracted] = (await write_client.get("/v1/events", params={"since": after["position"]})).json()["items"]
    assert (retracted["id"], retracted["change"], retracted["version"]) == (event_id, "retracted", 3)
    assert retracted["retracted_at"] is not None and corrected["retracted_at"] is None


async def test_since_a_timestamp_lists_the_changes_recorded_from_then(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    await post_batch(write_client, ingest_headers, range(0, 3))
    async with write_engine.connect() as connection:
        moment = await connection.scalar(text("SELECT clock_timestamp()"))
    later = await post_batch(write_client, ingest_headers, range(3, 5))
    body = (await write_client.get("/v1/events", params={"since": moment.isoformat()})).json()
    assert [item["id"] for item in body["items"]] == later


async def test_filters_by_place_spelling_actor_and_dates(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    created = await post_batch(write_client, ingest_headers, range(0, 9))

    tadmur, _ = await walk(write_client, "/v1/events?place=Tadmur&limit=5")
    assert tadmur and {item["place"]["slug"] for item in tadmur} == {"palmyra"}
    assert {created[n] for n in (0, 3, 6)} <= {item["id"] for item in tadmur}

    sdf, _ = await walk(write_client, "/v1/events?actor=sdf&limit=5")
    for item in sdf:
        slugs = {item["actor"] and item["actor"]["slug"], item["loses"] and item["loses"]["slug"]}
        assert "sdf" in slugs | {p["slug"] for p in item["parties"]}
    assert {created[n] for n in (1, 4, 7)} <= {item["id"] for item in sdf}

    dated, _ = await walk(write_client, "/v1/events?from=2018-01-02&to=2018-01-04")
    assert [item["id"] for item in dated] == created[1:4]


async def test_newest_first_pages_by_date_with_a_keyset_cursor(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    await post_batch(write_client, ingest_headers, range(0, 12))
    seen, last = await walk(write_client, "/v1/events?order=newest&limit=7")
    keys = [(item["date"], item["id"]) for item in seen]
    assert keys == sorted(keys, reverse=True)
    assert sorted(item["id"] for item in seen) == await all_event_ids(write_engine)
    assert last["position"] is None  # a position is for resuming recording order
    first = await write_client.get("/v1/events?order=newest&limit=2")
    assert [item["external_id"] for item in first.json()["items"]] == ["feed-test-11", "feed-test-10"]


async def test_list_revalidates(client: httpx.AsyncClient) -> None:
    first = await client.get("/v1/events?limit=3")
    assert first.status_code == 200 and first.headers["cache-control"] == "public, no-cache"
    again = await client.get("/v1/events?limit=3", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


async def test_bad_parameters_are_problems_naming_the_field(client: httpx.AsyncClient) -> None:
    for query, status, field in [
        ("since=yesterday", 400, "since"),
        ("since=999999999", 400, "since"),
        ("from=2016-13-01", 400, "from"),
        ("from=2017-02-01&to=2017-01-01", 400, "from"),
        ("limit=0", 400, "limit"),
        ("limit=1001", 400, "limit"),
        ("order=oldest", 400, "order"),
        ("cursor=bm9wZQ", 400, "cursor"),
        ("place=", 400, "place"),
    ]:
        response = await client.get(f"/v1/events?{query}")
        assert response.status_code == status, (query, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == field, query

    # A cursor of the other order is refused, not misread.
    newest = (await client.get("/v1/events?order=newest&limit=1")).json()["next"]
    cursor = httpx.URL(newest).params["cursor"]
    mixed = await client.get("/v1/events", params={"cursor": cursor})
    assert mixed.status_code == 400 and mixed.json()["errors"][0]["field"] == "cursor"

    place = await client.get("/v1/events?place=Palmira")
    assert place.status_code == 404 and place.json()["suggestions"][0]["slug"] == "palmyra"
    actor = await client.get("/v1/events?actor=islamic-stat")
    assert actor.status_code == 404 and actor.json()["suggestions"][0]["slug"] == "islamic-state"


async def key_of(engine: AsyncEngine) -> ApiKey:
    async with engine.begin() as connection:
        key, _ = await keys.create_key(connection, name="test-ingest", scope="ingest")
    return key


async def write_event(connection: AsyncConnection, key: ApiKey, n: int) -> int:
    """Record an event in the connection's open transaction (the caller commits or not)."""
    outcome = await writes.create_events(connection, [EventCreate.model_validate(new_event(n))], key=key)
    return int(outcome.items[0]["id"])


async def positions(client: httpx.AsyncClient, since: int) -> list[tuple[int, int]]:
    body = (await client.get("/v1/events", params={"since": since})).json()
    return [(item["id"], item["position"]) for item in body["items"]]


async def test_positions_follow_commit_order_and_an_open_writer_holds_back_only_itself(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    key = await key_of(write_engine)
    head = (await write_client.get("/v1/events?limit=1000")).json()["position"]
    async with write_engine.connect() as slow:
        await slow.begin()
        slow_id = await write_event(slow, key, 1)  # written first, committed last
        [fast_id] = await post_batch(write_client, ingest_headers, range(2, 3))  # commits at once

        # The fast event is handed out at once: the open writer has no position yet, and will get a later one.
        [(first_id, fast_position)] = await positions(write_client, head)
        assert first_id == fast_id
        await slow.commit()

    [(later_id, slow_position)] = await positions(write_client, fast_position)
    assert later_id == slow_id and slow_position > fast_position


async def test_a_writer_that_started_first_and_commits_first_is_not_missed(
    write_client: httpx.AsyncClient, write_engine: AsyncEngine
) -> None:
    """An older transaction commits before a younger one that wrote first: resuming after the older one's
    position still finds the younger one, at a later position."""
    key = await key_of(write_engine)
    head = (await write_client.get("/v1/events?limit=1000")).json()["position"]
    async with write_engine.connect() as old, write_engine.connect() as young:
        await old.begin()
        await old.execute(text("SELECT pg_current_xact_id()"))  # the older transaction id
        await young.begin()
        young_id = await write_event(young, key, 1)  # the smaller version id
        old_id = await write_event(old, key, 2)
        await old.commit()

        [(first_id, old_position)] = await positions(write_client, head)
        assert first_id == old_id
        await young.commit()

    [(later_id, young_position)] = await positions(write_client, old_position)
    assert later_id == young_id
    assert young_position > old_position  # numbered when it committed


async def test_a_transaction_open_in_another_database_of_the_server_holds_nothing_back(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], server_url: str
) -> None:
    head = (await write_client.get("/v1/events?limit=1000")).json()["position"]
    elsewhere = create_engine(database_on(server_url, "postgres"), pool_size=1)
    try:
        async with elsewhere.connect() as other:
            await other.begin()
            await other.execute(text("SELECT pg_current_xact_id()"))  # holds back the server's xmin
            created = await post_batch(write_client, ingest_headers, range(0, 3))
            assert [event_id for event_id, _ in await positions(write_client, head)] == created
            await other.rollback()
    finally:
        await elsewhere.dispose()


async def test_a_reader_polling_while_writers_commit_concurrently_sees_each_change_once(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    head = (await write_client.get("/v1/events?limit=1000")).json()["position"]
    seen: list[int] = []
    writing = True

    async def reader() -> None:
        position = head
        while True:
            done = not writing  # read once more after the last commit
            body = (await write_client.get("/v1/events", params={"since": position, "limit": 1000})).json()
            seen.extend(item["id"] for item in body["items"])
            position = body["position"]
            if done:
                return
            await asyncio.sleep(0.005)

    async def writer(w: int) -> list[int]:
        ids: list[int] = []
        for b in range(4):
            start = 100 + (w * 4 + b) * 3
            ids += await post_batch(write_client, ingest_headers, range(start, start + 3))
        return ids

    polling = asyncio.create_task(reader())
    written = await asyncio.gather(*(writer(w) for w in range(6)))
    writing = False
    await polling
    assert len(seen) == len(set(seen))  # nothing twice
    assert sorted(seen) == sorted(i for ids in written for i in ids)  # nothing missed
