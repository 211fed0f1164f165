"""The gazetteer: a place given by name and coordinates is the known place near it named alike (transliterations,
the article), within a reach that depends on the known place's kind; otherwise a new place flagged for review."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.errors import Conflict
from app.schemas.events import EventCreate
from app.services.events import create_events
from app.services.keys import CommandLine
from tests.api.test_events_write import event

# Two villages of one name 40 km apart, on one parallel (a degree of longitude at 36° N is 90.1 km).
WEST = (38.0, 36.0)
EAST = (38.0 + 40 / 90.1, 36.0)


async def village(conn: AsyncConnection, slug: str, name: str, lon: float, lat: float, *names: str) -> int:
    place_id = int(
        await conn.scalar(
            text("""INSERT INTO place (slug, name, kind, geom, country_code)
                    VALUES (:slug, :name, 'village', ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 'SY') RETURNING id"""),
            {"slug": slug, "name": name, "lon": lon, "lat": lat},
        )
    )
    for spelling in (name, *names):
        await conn.execute(
            text("INSERT INTO place_name (place_id, name) VALUES (:p, :n)"), {"p": place_id, "n": spelling}
        )
    return place_id


def located(name: str, lon: float, lat: float, n: int = 0, **location: Any) -> EventCreate:
    return EventCreate.model_validate(
        event(
            external_id=f"gazetteer-{name}-{lon}-{lat}-{n}",
            place=name,
            date=f"2017-06-{n + 1:02d}",
            location={"lon": lon, "lat": lat, **location},
        )
    )


async def place_of(conn: AsyncConnection, *events: EventCreate) -> list[dict[str, Any]]:
    outcome = await create_events(conn, list(events), key=CommandLine())
    return [item["place"] for item in outcome.items]


async def review_of(conn: AsyncConnection, place_id: int) -> str | None:
    return await conn.scalar(text("SELECT review FROM place WHERE id = :id"), {"id": place_id})  # type: ignore[no-any-return]


@pytest.fixture
async def villages(conn: AsyncConnection) -> dict[str, int]:
    return {
        "west": await village(conn, "tell-aswad-west", "Tell Aswad", *WEST),
        "east": await village(conn, "tell-aswad-east", "Tell Aswad", *EAST),
        "hafer": await village(conn, "deir-hafer", "Deir Hafer", 37.68, 36.16),
    }


@pytest.mark.parametrize(
    ("name", "lon", "lat", "slug"),
    [
        ("Dayr Hafir", 37.69, 36.16, "deir-hafer"),  # another transliteration, 0.9 km off
        ("Deir Hafir", 37.68, 36.165, "deir-hafer"),
        ("دير حافر", 37.68, 36.16, None),  # Arabic script shares no letters with the stored spellings: new
        ("Tadmour", 38.30, 34.58, "palmyra"),  # a city reaches 15 km: 3.7 km from its centre
        ("Tudmur", 38.35, 34.60, "palmyra"),  # a listed spelling, 8.6 km out
        ("ar-Raqqah", 39.05, 35.96, "raqqa"),
        ("Rakka", 39.00, 35.94, "raqqa"),
        ("al-Bab", 37.52, 36.37, "al-bab"),
        ("Bab", 37.53, 36.38, "al-bab"),
    ],
)
async def test_a_transliteration_near_a_known_place_is_that_place(
    conn: AsyncConnection, villages: dict[str, int], name: str, lon: float, lat: float, slug: str | None
) -> None:
    [place] = await place_of(conn, located(name, lon, lat))
    if slug is None:
        assert place["result"] == "created"
        assert await review_of(conn, place["id"]) is not None
    else:
        assert (place["result"], place["slug"]) == ("matched", slug)


async def test_two_villages_of_one_name_40_km_apart_stay_apart(
    conn: AsyncConnection, villages: dict[str, int]
) -> None:
    near_east = (EAST[0] - 0.01, EAST[1] + 0.005)  # 1 km from the eastern one
    near_west = (WEST[0] + 0.012, WEST[1])
    midway = ((WEST[0] + EAST[0]) / 2, 36.0)  # 20 km from both: neither
    east, west, mid = await place_of(
        conn,
        located("Tell Aswad", *near_east),
        located("Tal Aswad", *near_west, n=1),
        located("Tell Aswad", *midway, n=2),
    )
    assert (east["result"], east["id"]) == ("matched", villages["east"])
    assert (west["result"], west["id"]) == ("matched", villages["west"])
    assert mid["result"] == "created"
    assert mid["id"] not in villages.values()
    assert "Tell Aswad" in (await review_of(conn, mid["id"]) or "")
    # The new village is a place of its own now: the next report from there finds it, and creates nothing.
    [again] = await place_of(conn, located("Tell Aswad", midway[0] + 0.005, 36.0, n=3))
    assert (again["result"], again["id"]) == ("matched", mid["id"])


async def test_a_village_reaches_less_far_than_a_city(
    conn: AsyncConnection, villages: dict[str, int]
) -> None:
    """8 km from a city's centre is the city; 8 km from a village is another place."""
    city, far_village = await place_of(
        conn,
        located("Palmyra", 38.2672 + 8 / 92.0, 34.56),
        located("Tell Aswad", WEST[0] + 8 / 90.1, 36.0, n=1),
    )
    assert (city["result"], city["slug"]) == ("matched", "palmyra")
    assert far_village["result"] == "created"


async def test_a_known_name_far_from_its_place_is_a_new_place(conn: AsyncConnection) -> None:
    """ "Mari" is a spelling of Mare' north of Aleppo; at Abu Kamal it is ancient Mari, another place."""
    [mari] = await place_of(conn, located("Mari", 40.8867, 34.5497))
    assert mari["result"] == "created"
    country = await conn.scalar(text("SELECT country_code FROM place WHERE id = :id"), {"id": mari["id"]})
    assert country == "SY"  # from the shipped borders


async def test_one_request_naming_a_new_place_twice_creates_it_once(conn: AsyncConnection) -> None:
    first, second, other = await place_of(
        conn,
        located("Khirbat Umm Test", 38.9, 35.1, kind="village"),
        located("Khirbet Umm Test", 38.905, 35.1, n=1, kind="village"),
        located("Khirbat Umm Test", 39.3, 35.1, n=2, kind="village"),  # 36 km east: another village
    )
    assert first["result"] == second["result"] == other["result"] == "created"
    assert first["id"] == second["id"] != other["id"]
    slugs = await conn.scalars(
        text("SELECT slug FROM place WHERE id = ANY(:ids) ORDER BY id"), {"ids": [first["id"], other["id"]]}
    )
    assert list(slugs) == ["khirbat-umm-test", f"khirbat-umm-test-{other['id']}"]


async def test_a_resent_located_event_is_existing_and_creates_no_second_place(conn: AsyncConnection) -> None:
    e = located("Khirbat Resend", 38.7, 35.3)
    [first] = await place_of(conn, e)
    outcome = await create_events(conn, [e], key=CommandLine())
    assert outcome.items[0]["result"] == "existing"
    assert outcome.items[0]["place"]["id"] == first["id"]
    assert await conn.scalar(text("SELECT count(*) FROM place WHERE name = 'Khirbat Resend'")) == 1
    # The same id, the place elsewhere: another place, so another content: a conflict as ever.
    with pytest.raises(Conflict):
        moved = located("Khirbat Resend", 39.7, 35.3).model_copy(update={"external_id": e.external_id})
        await create_events(conn, [moved], key=CommandLine())


async def test_post_event_with_a_new_place_creates_it_for_review_and_a_patch_clears_it(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    body = event(place="Umm al-Test", location={"lat": 35.11, "lon": 38.77, "kind": "village"})
    response = await write_client.post("/v1/events", json=body, headers=ingest_headers)
    assert response.status_code == 201, response.text
    slug = response.json()["place"]["slug"]
    assert slug == "umm-al-test"
    listed = (await write_client.get("/v1/places", params={"review": "true"})).json()["items"]
    assert [p["slug"] for p in listed] == [slug]
    assert listed[0]["review"].startswith("created for event test-qaryatayn-2017-06-01")
    place = (await write_client.get(f"/v1/places/{slug}")).json()
    assert (place["kind"], place["country_code"]) == ("village", "SY")
    # The batch answer says which place each located event resolved to.
    batch = {"events": [event(external_id="again", place="Umm Test", location={"lat": 35.111, "lon": 38.77})]}
    again = await write_client.post("/v1/events/batch", json=batch, headers=ingest_headers)
    assert again.status_code == 201, again.text
    assert again.json()["items"][0]["place"] == {
        "id": place["id"],
        "slug": slug,
        "name": "Umm al-Test",
        "result": "matched",
        "distance_km": 0.11,
    }
    cleared = await write_client.patch(f"/v1/places/{slug}", json={"review": None}, headers=ingest_headers)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["review"] is None
    assert (await write_client.get("/v1/places", params={"review": "true"})).json()["items"] == []
    assert (await write_client.get("/v1/places", params={"review": "maybe"})).status_code == 400
    # A location off the globe is a 422 naming the field, and nothing is created.
    bad = event(external_id="bad", place="Nowhere", location={"lat": 95, "lon": 38.77})
    refused = await write_client.post("/v1/events", json=bad, headers=ingest_headers)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in refused.json()["errors"]] == ["location.lat"]
