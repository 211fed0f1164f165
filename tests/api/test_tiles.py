"""Vector tiles of a date, decoded, and their TileJSON documents."""

from __future__ import annotations

import math
from typing import Any

import httpx
import mapbox_vector_tile
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.api.test_corrections import moment
from tests.api.test_events_write import event
from tests.factories import make_place
from tests.services.test_place_zooms import expected as least_zooms

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


# Where ST_AsMVTGeom puts each place in a tile's buffered box (the reference for the places tile's own arithmetic;
# a point a little beyond the buffer, which ST_AsMVTGeom would round onto its edge, is not in the tile). Below z8
# a tile holds only the places shown at its zoom (tests/services/test_place_zooms.py computes which).
MVT_GEOM = """
    SELECT p.id, p.slug, ST_X(g) AS x, ST_Y(g) AS y
    FROM place AS p,
         LATERAL (SELECT ST_AsMVTGeom(ST_Transform(p.geom, 3857), ST_TileEnvelope(:z, :x, :y), 4096, 64, true)) AS m(g)
    WHERE g IS NOT NULL AND p.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 64.0 / 4096), 4326)
"""
# A point of a tile at pixel (px, py) of its 4096 (a negative or > 4096 one: in the buffer, or beyond it).
TILE_POINT = """
    SELECT ST_X(q), ST_Y(q) FROM (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(
        ST_XMin(e) + (ST_XMax(e) - ST_XMin(e)) * :px / 4096, ST_YMax(e) - (ST_YMax(e) - ST_YMin(e)) * :py / 4096),
        3857), 4326) AS q FROM ST_TileEnvelope(10, 620, 407) AS e) AS s
"""


async def test_places_tile_points_land_where_st_asmvtgeom_puts_them(
    client: httpx.AsyncClient, conn: AsyncConnection
) -> None:
    # Places on the edges of a z10 tile, in its buffer, just beyond it, and on half pixels (rounding).
    pixels = [
        (0, 0),
        (4096, 4096),
        (-64, 2000),
        (4160, 10),
        (-64.4, -63.6),
        (-65, 100),
        (4161, 7),
        (0.5, 1.5),
    ]
    pixels += [(2047.5, 2048.5), (-0.4, 3000), (100.25, 4095.75), (3000.5, -0.5)]
    for i, (px, py) in enumerate(pixels):
        lon, lat = (await conn.execute(text(TILE_POINT), {"px": px, "py": py})).one()
        await make_place(conn, f"test-edge-{i}", lon=lon, lat=lat)
    shown = await least_zooms(conn)
    for z, x, y in (
        (10, 620, 407),
        (10, 619, 407),
        (10, 621, 406),
        (8, 155, 101),
        (6, 38, 25),
        (12, 2481, 1630),
    ):
        response = await client.get(f"/v1/tiles/places/{z}/{x}/{y}.mvt", params={"at": "2016-12-20"})
        expected = {
            (r.slug, r.x, r.y)
            for r in await conn.execute(text(MVT_GEOM), {"z": z, "x": x, "y": y})
            if z >= 8 or shown.get(r.id, 8) <= z
        }
        if not expected:
            assert response.status_code == 204
            continue
        layer = mapbox_vector_tile.decode(response.content, default_options={"y_coord_down": True})["places"]
        got = {(f["properties"]["slug"], *f["geometry"]["coordinates"]) for f in layer["features"]}
        assert got == expected, (z, x, y)
    assert any(slug.startswith("test-edge") for slug, _, _ in got)


def tile_of(lon: float, lat: float, zoom: int) -> str:
    n = 2**zoom
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return f"{zoom}/{int((lon + 180) / 360 * n)}/{int(y)}"


async def test_low_zoom_places_tiles_show_the_most_populous_place_of_each_cell(
    client: httpx.AsyncClient, conn: AsyncConnection
) -> None:
    # Two places 600 m apart in the desert west of Ramadi: one cell at every zoom below 8 (a z7 cell is ~10 km).
    big = await make_place(conn, "test-big", lon=42.0, lat=32.6)
    small = await make_place(conn, "test-small", lon=42.005, lat=32.602)
    weigh = text("UPDATE place SET population = :pop WHERE id = :id")
    await conn.execute(weigh, {"pop": 5000, "id": big})
    await conn.execute(weigh, {"pop": 10, "id": small})

    async def shown(zoom: int) -> set[str]:
        response = await client.get(
            f"/v1/tiles/places/{tile_of(42.0, 32.6, zoom)}.mvt", params={"at": "2016-12-20"}
        )
        return {f["properties"]["slug"] for f in decode(response, "places")} & {"test-big", "test-small"}

    assert [await shown(zoom) for zoom in (4, 6, 7)] == [{"test-big"}] * 3
    assert await shown(8) == await shown(12) == {"test-big", "test-small"}
    await conn.execute(weigh, {"pop": 6000, "id": small})
    assert [await shown(zoom) for zoom in (4, 6, 7, 8)] == [{"test-small"}] * 3 + [{"test-big", "test-small"}]


async def test_places_tile_as_of_is_the_tile_as_it_stood(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    def holders(response: httpx.Response) -> dict[str, Any]:
        return {f["properties"]["slug"]: f["properties"] for f in decode(response, "places")}

    # At z8 every place; at z6 the places shown there (derived as of a moment for those only).
    tiles, day = [f"/v1/tiles/places/{PALMYRA_Z8}.mvt", "/v1/tiles/places/6/38/25.mvt"], {"at": "2017-06-05"}
    before = [holders(await write_client.get(tile, params=day)) for tile in tiles]
    then = await moment(write_engine)
    created = await write_client.post("/v1/events", json=event(), headers=ingest_headers)
    assert created.status_code == 201, created.text
    now = [holders(await write_client.get(tile, params=day)) for tile in tiles]
    assert (before[0]["palmyra"]["controller"], now[0]["palmyra"]["controller"]) == (
        "syrian-army",
        "islamic-state",
    )
    assert now[0]["palmyra"]["since"] == "2017-06-01"
    assert len(now[1]) > 3
    # As of before the write: the very features of then, every place and attribute.
    for tile, then_features, now_features in zip(tiles, before, now, strict=True):
        assert holders(await write_client.get(tile, params={**day, "as_of": then})) == then_features
        assert holders(await write_client.get(tile, params={**day, "as_of": "2999-01-01"})) == now_features


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
