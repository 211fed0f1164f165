"""A place moved, renamed or recorded after a moment: maps and tiles as of before show it where, as and whether it
stood then (its place_version), not as it stands now."""

from __future__ import annotations

import math
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.test_corrections import moment
from tests.api.test_tiles import decode

AT = "2016-12-20"  # Palmyra held by IS (a control period), so its territory does not decide its state
OLD, NEW = (38.2672, 34.56), (40.5, 32.0)  # Palmyra's point (lon, lat), and where a correction moves it


def bbox_around(lon: float, lat: float) -> str:
    return f"{lon - 0.05},{lat - 0.05},{lon + 0.05},{lat + 0.05}"


def tile_of(lon: float, lat: float, z: int) -> str:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return f"{z}/{x}/{y}"


async def features(client: httpx.AsyncClient, **params: Any) -> dict[str, dict[str, Any]]:
    response = await client.get("/v1/control", params={"at": AT, **params})
    assert response.status_code == 200, response.text
    return {f["properties"]["slug"]: f for f in response.json()["features"]}


async def test_maps_and_tiles_as_of_show_places_as_they_stood(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str], write_engine: AsyncEngine
) -> None:
    # A village inside a territory on AT (no event covers it, so the territory decides its state), moved out.
    async with write_engine.connect() as connection:
        inside = (
            await connection.execute(
                text(
                    "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM territory"
                    " WHERE valid @> CAST(CAST(:at AS text) AS date) ORDER BY id LIMIT 1) AS t"
                ),
                {"at": AT},
            )
        ).one()
    village = {"slug": "inside-village", "name": "Inside", "kind": "village", "country": "SY"}
    created = await write_client.post(
        "/v1/places", json={**village, "lon": inside[0], "lat": inside[1]}, headers=ingest_headers
    )
    assert created.status_code == 201, created.text
    before = await moment(write_engine)
    away = await write_client.patch(
        "/v1/places/inside-village", json={"lon": 20.0, "lat": 10.0}, headers=ingest_headers
    )
    assert away.status_code == 200, away.text
    moved = await write_client.patch(
        "/v1/places/palmyra", json={"name": "Tadmur", "lon": NEW[0], "lat": NEW[1]}, headers=ingest_headers
    )
    assert moved.status_code == 200, moved.text
    added = await write_client.post(
        "/v1/places",
        json={
            "slug": "new-village",
            "name": "New Village",
            "kind": "village",
            "country": "SY",
            "lon": 38.7,
            "lat": 35.0,
        },
        headers=ingest_headers,
    )
    assert added.status_code == 201, added.text

    now, then = await features(write_client), await features(write_client, as_of=before)
    assert now["palmyra"]["properties"]["name"] == "Tadmur"
    assert now["palmyra"]["geometry"]["coordinates"] == [NEW[0], NEW[1]]
    assert then["palmyra"]["properties"]["name"] == "Palmyra"
    assert then["palmyra"]["geometry"]["coordinates"] == [OLD[0], OLD[1]]
    assert then["palmyra"]["properties"]["controller"] == now["palmyra"]["properties"]["controller"]
    assert "new-village" in now and "new-village" not in then
    assert (now["inside-village"]["properties"]["basis"], now["inside-village"]["properties"]["status"]) == (
        None,
        "unknown",
    )
    assert (
        then["inside-village"]["properties"]["basis"],
        then["inside-village"]["properties"]["status"],
    ) == (
        "territory",
        "controlled",
    )

    # A bbox as of before finds the place where it was, with what it was called.
    assert "palmyra" not in await features(write_client, as_of=before, bbox=bbox_around(*NEW))
    old_spot = await features(write_client, as_of=before, bbox=bbox_around(*OLD))
    assert old_spot["palmyra"]["properties"]["name"] == "Palmyra"
    assert old_spot["palmyra"]["geometry"]["coordinates"] == [OLD[0], OLD[1]]

    # So does a tile: the old point's tile holds it, named as then; the new point's does not.
    def tile(point: tuple[float, float], **params: Any) -> Any:
        return write_client.get(f"/v1/tiles/places/{tile_of(*point, 10)}.mvt", params={"at": AT, **params})

    async def names(response: Any) -> list[str]:
        answer = await response
        return (
            [] if answer.status_code == 204 else [f["properties"]["name"] for f in decode(answer, "places")]
        )

    names_then = await names(tile(OLD, as_of=before))
    assert "Palmyra" in names_then and "Tadmur" not in names_then
    assert "Tadmur" in await names(tile(NEW)) and "Palmyra" not in await names(tile(NEW, as_of=before))
    # Below z8, where a tile shows the places place_zoom picks, the old point's tile too.
    low = f"/v1/tiles/places/{tile_of(*OLD, 6)}.mvt"
    assert "Palmyra" in await names(write_client.get(low, params={"at": AT, "as_of": before}))
    assert {"Palmyra", "Tadmur"}.isdisjoint(await names(write_client.get(low, params={"at": AT})))
