"""Storing territories and front lines through the API: checked by PostGIS, all or nothing, idempotent."""

from __future__ import annotations

import copy
import math
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

SQUARE = [[38.6, 35.2], [38.7, 35.2], [38.7, 35.3], [38.6, 35.3], [38.6, 35.2]]  # open desert, no seeded area
BOWTIE = [[38.6, 35.2], [38.7, 35.3], [38.7, 35.2], [38.6, 35.3], [38.6, 35.2]]


def territory(
    external_id: str = "test-area", ring: list[list[float]] | None = None, **props: Any
) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {
            "external_id": external_id,
            "actor": "syrian-army",
            "valid_from": "2016-12-15",
            "valid_to": "2017-01-15",
            "source": "wp-tiyas-airbase",
            "notes": "test",
            **props,
        },
        "geometry": {"type": "Polygon", "coordinates": [ring or SQUARE]},
    }


def front_line(external_id: str = "test-line", **props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {
            "external_id": external_id,
            "side_a": "syrian-army",
            "side_b": "islamic-state",
            "valid_from": "2016-12-15",
            **props,
        },
        "geometry": {"type": "LineString", "coordinates": [[38.6, 35.2], [38.7, 35.3]]},
    }


def collection(*features: dict[str, Any], **members: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features), **members}


async def stored(engine: AsyncEngine, table: str, *external_ids: str) -> int:
    async with engine.connect() as connection:
        return int(
            await connection.scalar(
                text(f"SELECT count(*) FROM {table} WHERE external_id = ANY(:ids)"),
                {"ids": list(external_ids)},
            )
            or 0
        )


async def test_post_territory_stores_a_multipolygon_readable_at_its_dates(
    write_client: httpx.AsyncClient, write_engine: AsyncEngine, ingest_headers: dict[str, str]
) -> None:
    response = await write_client.post("/v1/territories", json=territory(), headers=ingest_headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["external_id"], body["result"], body["overlaps"]) == ("test-area", "created", [])
    async with write_engine.connect() as connection:
        kind = await connection.scalar(text("SELECT GeometryType(geom) FROM territory WHERE id = :id"), body)
    assert kind == "MULTIPOLYGON"
    on = (
        await write_client.get("/v1/territories", params={"at": "2016-12-20", "bbox": "38.5,35.1,38.8,35.4"})
    ).json()
    assert [f["properties"]["external_id"] for f in on["features"]] == ["test-area"]
    off = (
        await write_client.get("/v1/territories", params={"at": "2017-01-15", "bbox": "38.5,35.1,38.8,35.4"})
    ).json()
    assert off["features"] == []


async def test_resending_is_idempotent_and_other_content_is_a_conflict(
    write_client: httpx.AsyncClient, write_engine: AsyncEngine, ingest_headers: dict[str, str]
) -> None:
    first = await write_client.post("/v1/territories", json=territory(), headers=ingest_headers)
    again = await write_client.post("/v1/territories", json=territory(), headers=ingest_headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["result"] == "existing"

    moved = territory(ring=[[x + 0.01, y] for x, y in SQUARE])
    conflict = await write_client.post("/v1/territories", json=moved, headers=ingest_headers)
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == "application/problem+json"
    assert conflict.json()["conflicts"] == [
        {"index": 0, "external_id": "test-area", "id": first.json()["id"]}
    ]
    redated = await write_client.post(
        "/v1/territories", json=territory(valid_to=None), headers=ingest_headers
    )
    assert redated.status_code == 409
    assert await stored(write_engine, "territory", "test-area") == 1


async def test_a_bowtie_is_refused_with_postgis_reason_and_nothing_is_stored(
    write_client: httpx.AsyncClient, write_engine: AsyncEngine, ingest_headers: dict[str, str]
) -> None:
    response = await write_client.post("/v1/territories", json=territory(ring=BOWTIE), headers=ingest_headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["field"] == "geometry"
    assert error["reason"].startswith("invalid geometry: Self-intersection[38.65 35.25]")
    assert await stored(write_engine, "territory", "test-area") == 0


async def test_repair_stores_the_bowtie_as_two_triangles(
    write_client: httpx.AsyncClient, write_engine: AsyncEngine, ingest_headers: dict[str, str]
) -> None:
    response = await write_client.post(
        "/v1/territories", params={"repair": "true"}, json=territory(ring=BOWTIE), headers=ingest_headers
    )
    assert response.status_code == 201, response.text
    async with write_engine.connect() as connection:
        parts, valid = (
            await connection.execute(
                text("SELECT ST_NumGeometries(geom), ST_IsValid(geom) FROM territory WHERE id = :id"),
                {"id": response.json()["id"]},
            )
        ).one()
    assert (parts, valid) == (2, True)


async def test_out_of_range_coordinates_are_refused_where_they_are(
    write_client: httpx.AsyncClient, write_engine: AsyncEngine, ingest_headers: dict[str, str]
) -> None:
    # Latitude first by mistake: 35.2 is fine as a longitude, but 138.6 is not a latitude.
    swapped = territory(ring=[[y, x + 100] for x, y in SQUARE])
    response = await write_client.post("/v1/territories", json=swapped, headers=ingest_headers)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "geometry.coordinates.0.0"
    assert "outside longitude -180..180, latitude -90..90" in error["reason"]
    assert await stored(write_engine, "territory", "test-area") == 0


async def test_a_batch_with_one_bad_feature_stores_nothing_and_names_it(
    write_client: httpx.AsyncClient, write_engine: AsyncEngine, ingest_headers: dict[str, str]
) -> None:
    batch = collection(
        territory("batch-0"),
        territory("batch-1", ring=BOWTIE),
        territory("batch-2", actor="islamic-stat"),
        territory("batch-3", ring=[[x, y + 0.2] for x, y in SQUARE]),
    )
    response = await write_client.post("/v1/territories/batch", json=batch, headers=ingest_headers)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "geometry"), (2, "properties.actor")]
    assert errors[1]["reason"].startswith("no actor is known as 'islamic-stat'; did you mean islamic-state")
    assert errors[1]["suggestions"][0]["slug"] == "islamic-state"  # as an event write says it
    assert await stored(write_engine, "territory", "batch-0", "batch-1", "batch-2", "batch-3") == 0

    good = collection(territory("batch-0"), territory("batch-3", ring=[[x, y + 0.2] for x, y in SQUARE]))
    created = await write_client.post("/v1/territories/batch", json=good, headers=ingest_headers)
    assert created.status_code == 201
    assert created.json()["created"] == 2
    assert [item["index"] for item in created.json()["items"]] == [0, 1]
    resent = await write_client.post("/v1/territories/batch", json=good, headers=ingest_headers)
    assert (resent.status_code, resent.json()["existing"]) == (200, 2)


async def test_overlap_with_another_actor_is_stored_and_reported(
    write_client: httpx.AsyncClient, ingest_headers: dict[str, str]
) -> None:
    # 37.9–38.1°E × 34.5–34.6°N lies inside IS's Palmyra area in December 2016.
    ring = [[37.9, 34.5], [38.1, 34.5], [38.1, 34.6], [37.9, 34.6], [37.9, 34.5]]
    response = await write_client.post("/v1/territories", json=territory(ring=ring), headers=ingest_headers)
    assert response.status_code == 201
    [overlap] = response.json()["overlaps"]
    assert overlap["territory"]["external_id"] == "is-palmyra-to-t4-2016-12-11"
    assert overlap["territory"]["actor"]["slug"] == "islamic-state"
    assert overlap["dates"] == {"from": "2016-12-15", "to": "2017-01-15"}
    assert 195 < overlap["area_km2"] < 210  # 0.2° × 0.1° at 34.5°N
    assert overlap["bbox"] == [37.9, 34.5, 38.1, 34.6]
    assert overlap["geometry"]["type"] == "Polygon"
    # The same actor's own areas are not overlaps.
    mine = await write_client.post(
        "/v1/territories", json=territory("mine", ring=ring, actor="islamic-state"), headers=ingest_headers
    )
    assert [o["territory"]["external_id"] for o in mine.json()["overlaps"]] == ["test-area"]


async def test_a_declared_crs_is_reprojected(
    write_client: httpx.AsyncClient, write_engine: AsyncEngine, ingest_headers: dict[str, str]
) -> None:
    # The SQUARE in Web Mercator metres (EPSG:3857), as a GIS export would write it.
    def mercator(lon: float, lat: float) -> list[float]:
        radius = 6378137.0
        return [radius * math.radians(lon), radius * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))]

    feature = territory(ring=[mercator(x, y) for x, y in SQUARE])
    feature["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}
    response = await write_client.post("/v1/territories", json=feature, headers=ingest_headers)
    assert response.status_code == 201, response.text
    async with write_engine.connect() as connection:
        x, y, srid = (
            await connection.execute(
                text("SELECT ST_XMin(geom), ST_YMin(geom), ST_SRID(geom) FROM territory WHERE id = :id"),
                {"id": response.json()["id"]},
            )
        ).one()
    assert srid == 4326
    assert abs(x - 38.6) < 1e-6 and abs(y - 35.2) < 1e-6

    bad = copy.deepcopy(feature)
    bad["properties"]["external_id"] = "other"
    bad["crs"]["properties"]["name"] = "EPSG:999999"
    refused = await write_client.post("/v1/territories", json=bad, headers=ingest_headers)
    assert refused.status_code == 422
    assert "EPSG:999999 is not a coordinate system PostGIS knows" in refused.json()["errors"][0]["reason"]


async def test_too_many_vertices_are_refused(
    write_client: httpx.AsyncClient, write_engine: AsyncEngine, ingest_headers: dict[str, str]
) -> None:
    ring = [[38.0 + i * 1e-6, 35.0] for i in range(100_000)] + [[38.0, 35.1], [38.0, 35.0]]
    response = await write_client.post("/v1/territories", json=territory(ring=ring), headers=ingest_headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["reason"] == "100,002 vertices; at most 100,000 per feature"
    assert await stored(write_engine, "territory", "test-area") == 0


async def test_writes_need_an_ingest_key(write_client: httpx.AsyncClient, write_engine: AsyncEngine) -> None:
    response = await write_client.post("/v1/territories", json=territory())
    assert response.status_code == 401
    assert await stored(write_engine, "territory", "test-area") == 0


async def test_front_lines_are_stored_as_multilinestrings_and_read_back(
    write_client: httpx.AsyncClient, write_engine: AsyncEngine, ingest_headers: dict[str, str]
) -> None:
    response = await write_client.post("/v1/frontlines", json=front_line(), headers=ingest_headers)
    assert response.status_code == 201, response.text
    lines = (
        await write_client.get("/v1/frontlines", params={"at": "2017-06-01", "bbox": "38.5,35.1,38.8,35.4"})
    ).json()
    [line] = lines["features"]
    assert line["geometry"]["type"] == "MultiLineString"
    assert (line["properties"]["side_a"]["slug"], line["properties"]["side_b"]["slug"]) == (
        "syrian-army",
        "islamic-state",
    )

    same_side = await write_client.post(
        "/v1/frontlines/batch",
        json=collection(front_line("ok"), front_line("bad", side_b="syrian-army")),
        headers=ingest_headers,
    )
    assert same_side.status_code == 422
    assert [e["index"] for e in same_side.json()["errors"]] == [1]
    assert await stored(write_engine, "front_line", "ok", "bad") == 0
