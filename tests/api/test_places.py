"""Finding places through the API: every spelling, search, pagination, and the problems for bad references."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from tests.factories import make_place


@pytest.mark.parametrize("ref", ["deir-ez-zor", "Deir ez-Zour", "DAYR AZ-ZAWR", "Deir el-Zour", "دير الزور"])
async def test_each_spelling_resolves_to_the_same_place(client: httpx.AsyncClient, ref: str) -> None:
    response = await client.get(f"/v1/places/{ref}")
    assert response.status_code == 200
    body = response.json()
    assert body["slug"] == "deir-ez-zor"
    assert body["location"] == {"type": "Point", "coordinates": [40.15, 35.3333]}  # lon, lat
    assert [c["slug"] for c in body["children"]] == ["deir-ez-zor-airport"]
    assert "Dayr az-Zawr" in {n["name"] for n in body["names"]}


async def test_unknown_place_is_a_404_problem_with_suggestions(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/places/Palmira/control", params={"at": "2016-12-20"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 404 and "Palmira" in problem["detail"]
    assert problem["suggestions"][0]["slug"] == "palmyra"


async def test_a_shared_spelling_is_a_409_listing_the_places(client: httpx.AsyncClient, conn) -> None:  # type: ignore[no-untyped-def]
    await make_place(conn, "test-tell-one", names=("Tell Abyad",))
    await make_place(conn, "test-tell-two", names=("Tell Abyad",))
    response = await client.get("/v1/places/tell abyad/control")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert {c["slug"] for c in response.json()["candidates"]} == {"test-tell-one", "test-tell-two"}


async def test_search_ranks_the_closest_spelling_first(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/places", params={"q": "Tadmor"})
    assert response.status_code == 200
    items = response.json()["items"]
    assert items[0]["slug"] == "palmyra"
    assert items[0]["matched_name"] == "Tadmor"


async def test_search_near_a_point_orders_by_distance(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/places", params={"near": "38.2672,34.56", "radius_km": 100})
    items = response.json()["items"]
    assert [i["slug"] for i in items] == ["palmyra", "tiyas-airbase"]
    assert 50 < items[1]["distance_km"] < 65  # Palmyra to T4 is ~58 km


async def test_search_by_bbox_and_kind(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/places", params={"bbox": "36.5,35.5,39.5,37.0", "kind": "airbase"})
    assert [i["slug"] for i in response.json()["items"]] == ["tabqa-airbase"]
    response = await client.get("/v1/places", params={"bbox": "36.5,35.5,39.5,37.0", "kind": "town,city"})
    assert {i["slug"] for i in response.json()["items"]} >= {
        "al-bab",
        "jarabulus",
        "mare",
        "azaz",
        "dabiq",
        "aleppo",
    }


async def test_cursor_pagination_visits_every_place_once(client: httpx.AsyncClient) -> None:
    seen: list[str] = []
    url: str | None = "/v1/places?limit=3"
    pages = 0
    while url:
        response = await client.get(url)
        assert response.status_code == 200
        body = response.json()
        seen += [i["slug"] for i in body["items"]]
        url = body["next"]
        if url:
            parts = urlsplit(url)
            url = f"{parts.path}?{parts.query}"
        pages += 1
    assert len(seen) == len(set(seen)) == 22
    assert pages == 8


async def test_a_forged_cursor_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/places", params={"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "cursor"
