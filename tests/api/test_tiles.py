"""Vector tiles of a date, decoded, and their TileJSON documents."""

from __future__ import annotations

from typing import Any

import httpx
import mapbox_vector_tile

MVT = "application/vnd.mapbox-vector-tile"
PALMYRA_Z8 = "8/155/101"  # 37.97–39.38°E: Palmyra (38.27°E, 34.56°N), not T4 (37.63°E)
T4_Z8 = "8/154/101"
PALMYRA_Z10 = "10/620/407"


def decode(response: httpx.Response, layer: str) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MVT
    layers = mapbox_vector_tile.decode(response.content)
    assert set(layers) == {layer}
    assert layers[layer]["extent"] == 4096
    features: list[dict[str, Any]] = layers[layer]["features"]
    return features


async def test_territory_tile_holds_the_areas_of_its_date_only(client: httpx.AsyncClient) -> None:
    after = decode(
        await client.get(f"/v1/tiles/territories/{PALMYRA_Z8}.mvt", params={"at": "2016-12-20"}),
        "territories",
    )
    assert {f["properties"]["external_id"] for f in after} == {"is-palmyra-to-t4-2016-12-11"}
    [is_area] = after
    assert is_area["properties"]["color"] == "#1a1a1a"
    assert is_area["properties"]["valid_from"] == "2016-12-11"
    assert is_area["geometry"]["type"] in ("Polygon", "MultiPolygon")

    before = decode(
        await client.get(f"/v1/tiles/territories/{PALMYRA_Z8}.mvt", params={"at": "2016-12-01"}),
        "territories",
    )
    assert {f["properties"]["external_id"] for f in before} == {
        "sy-palmyra-2016-03-27",
        "is-east-of-palmyra-2016-03-27",
    }

    detailed = decode(
        await client.get(f"/v1/tiles/territories/{PALMYRA_Z10}.mvt", params={"at": "2016-12-20"}),
        "territories",
    )
    assert {f["properties"]["external_id"] for f in detailed} == {"is-palmyra-to-t4-2016-12-11"}


async def test_places_tile_carries_each_place_state_on_the_date(client: httpx.AsyncClient) -> None:
    places = decode(
        await client.get(f"/v1/tiles/places/{PALMYRA_Z8}.mvt", params={"at": "2016-12-20"}), "places"
    )
    by_slug = {f["properties"]["slug"]: f["properties"] for f in places}
    assert by_slug["palmyra"]["status"] == "controlled"
    assert by_slug["palmyra"]["controller"] == "islamic-state"
    assert by_slug["palmyra"]["basis"] == "event"
    assert "tiyas-airbase" not in by_slug
    earlier = decode(
        await client.get(f"/v1/tiles/places/{PALMYRA_Z8}.mvt", params={"at": "2016-06-01"}), "places"
    )
    assert {f["properties"]["slug"]: f["properties"]["controller"] for f in earlier}[
        "palmyra"
    ] == "syrian-army"


async def test_frontlines_tile(client: httpx.AsyncClient) -> None:
    lines = decode(
        await client.get(f"/v1/tiles/frontlines/{T4_Z8}.mvt", params={"at": "2017-01-10"}), "frontlines"
    )
    assert [(f["properties"]["side_a"], f["properties"]["side_b"]) for f in lines] == [
        ("syrian-army", "islamic-state")
    ]
    assert lines[0]["geometry"]["type"] in ("LineString", "MultiLineString")


async def test_a_tile_with_nothing_answers_204(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/tiles/territories/8/0/0.mvt", params={"at": "2016-12-20"})
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["cache-control"] == "public, no-cache"
    # Palmyra's tile before any territory was recorded there.
    old = await client.get(f"/v1/tiles/territories/{PALMYRA_Z8}.mvt", params={"at": "2012-01-01"})
    assert old.status_code == 204


async def test_tiles_carry_an_etag_and_answer_304(client: httpx.AsyncClient) -> None:
    first = await client.get(f"/v1/tiles/places/{PALMYRA_Z8}.mvt", params={"at": "2016-12-20"})
    again = await client.get(
        f"/v1/tiles/places/{PALMYRA_Z8}.mvt",
        params={"at": "2016-12-20"},
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304
    assert first.headers["cache-control"] == "public, no-cache"


async def test_tiles_outside_the_pyramid_are_problems(client: httpx.AsyncClient) -> None:
    for path, field in (("8/256/0", "x"), ("8/0/256", "y"), ("23/0/0", "z"), ("8/-1/0", "x"), ("a/0/0", "z")):
        response = await client.get(f"/v1/tiles/places/{path}.mvt")
        assert response.status_code == 400, path
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == field
    unknown = await client.get("/v1/tiles/roads/1/0/0.mvt")
    assert unknown.status_code == 404
    assert unknown.json()["layers"] == ["places", "territories", "frontlines"]
    bad_date = await client.get(f"/v1/tiles/places/{PALMYRA_Z8}.mvt", params={"at": "2016-13-01"})
    assert bad_date.status_code == 400


async def test_tilejson_describes_the_layer_and_keeps_the_date(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/tiles/territories.json", params={"at": "2016-12-20"})
    assert response.status_code == 200
    doc = response.json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == ["http://territory.test/v1/tiles/territories/{z}/{x}/{y}.mvt?at=2016-12-20"]
    assert (doc["minzoom"], doc["maxzoom"], doc["scheme"]) == (0, 22, "xyz")
    [layer] = doc["vector_layers"]
    assert layer["id"] == "territories"
    assert {"actor", "color", "valid_from", "valid_to", "area_km2"} <= set(layer["fields"])
    west, south, east, north = doc["bounds"]
    assert 37 < west < east < 44 and 34 < south < north < 37  # the article's areas, Palmyra to Mosul
    places = (await client.get("/v1/tiles/places.json")).json()
    assert places["tiles"][0].endswith("/v1/tiles/places/{z}/{x}/{y}.mvt")
    assert (await client.get("/v1/tiles/roads.json")).status_code == 404
