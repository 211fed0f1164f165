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


async def search(client: httpx.AsyncClient, q: str, **params: object) -> list[dict[str, object]]:
    response = await client.get("/v1/places", params={"q": q, **params})
    assert response.status_code == 200
    items: list[dict[str, object]] = response.json()["items"]
    return items


@pytest.mark.parametrize(
    ("q", "matched"),
    [
        ("Palmy", "Palmyra"),  # the start of a spelling
        ("Tdmur", "Tadmur"),  # a letter missing
        ("Tadmuur", "Tadmur"),  # a letter too many
        ("Palmira", "Palmyra"),  # a letter wrong
        ("Plamyra", "Palmyra"),  # two letters swapped
    ],
)
async def test_search_finds_a_prefix_or_a_spelling_one_letter_off(
    client: httpx.AsyncClient, q: str, matched: str
) -> None:
    items = await search(client, q)
    assert (items[0]["slug"], items[0]["matched_name"]) == ("palmyra", matched)


async def test_search_finds_a_transliteration_and_ignores_the_article(
    client: httpx.AsyncClient, conn
) -> None:  # type: ignore[no-untyped-def]
    await make_place(conn, "test-deir-hafer", names=("Deir Hafer",))
    await make_place(conn, "test-al-qaryatayn", names=("al-Qaryatayn",))
    # Three letters apart, trigram similarity 0.29 (under pg_trgm's 0.3): the consonant skeleton finds it.
    assert [i["slug"] for i in await search(client, "Dayr Hafir")] == ["test-deir-hafer"]
    assert [i["slug"] for i in await search(client, "Qaryat")] == ["test-al-qaryatayn"]
    assert [i["slug"] for i in await search(client, "as-Qaryatayn")] == ["test-al-qaryatayn"]


async def test_search_without_a_close_spelling_answers_the_loosely_similar(client: httpx.AsyncClient) -> None:
    # No spelling starts with it, is one letter off it or shares its skeleton; trigram similarity finds Palmyra.
    items = await search(client, "Palmyra Ruins")
    assert items and items[0]["slug"] == "palmyra" and items[0]["matched_name"] == "Palmyra"


async def test_search_of_punctuation_alone_matches_nothing(client: httpx.AsyncClient) -> None:
    # Normalised, "--" is "": every key starts with it, and a page of every place would be no answer.
    assert await search(client, "--") == []


async def test_search_pages_through_its_matches_once_each_in_rank_order(
    client: httpx.AsyncClient, conn
) -> None:  # type: ignore[no-untyped-def]
    for i, name in enumerate(
        ("Testabad", "Testabad Kabir", "Testabadi", "Tastabad", "Testabad Saghir", "Testobad")
    ):
        await make_place(conn, f"test-page-{i}", names=(name,))
    whole = await search(client, "testabad", limit=50)
    seen: list[dict[str, object]] = []
    url: str | None = "/v1/places?q=testabad&limit=2"
    while url:
        body = (await client.get(url)).json()
        seen += body["items"]
        url = body["next"] and "{0.path}?{0.query}".format(urlsplit(body["next"]))
    assert [i["slug"] for i in seen] == [i["slug"] for i in whole]
    assert len({i["slug"] for i in seen}) == len(seen) == 6
    scores = [float(str(i["score"])) for i in seen]
    assert scores == sorted(scores, reverse=True) and seen[0]["matched_name"] == "Testabad"


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
