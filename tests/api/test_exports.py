"""Exports read back by real readers (Python's csv module, json per line, GDAL for FlatGeobuf and GeoPackage)
hold the same rows as the JSON answers; unknown formats are 406 problems listing the offered ones."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

AT = "2016-12-20"
CONTROL = f"/v1/control?at={AT}"
EXPORT_TYPES = {
    "text/csv",
    "application/x-ndjson",
    "application/geo+json-seq",
    "application/flatgeobuf",
    "application/geopackage+sqlite3",
}


async def download(client: httpx.AsyncClient, url: str, **headers: str) -> httpx.Response:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    return response


def read_with_gdal(tmp_path: Path, content: bytes, suffix: str, layer: str | None = None) -> dict[str, Any]:
    """The file as GDAL reads it (ogr2ogr to GeoJSON): the real reader a GIS uses."""
    path = tmp_path / f"export{suffix}"
    path.write_bytes(content)
    command = ["ogr2ogr", "-f", "GeoJSON", "/vsistdout/", str(path), *([layer] if layer else [])]
    out = subprocess.run(command, capture_output=True, check=True, timeout=60).stdout
    collection: dict[str, Any] = json.loads(out)
    return collection


def gdal_layers(tmp_path: Path, content: bytes) -> str:
    path = tmp_path / "layers.gpkg"
    path.write_bytes(content)
    return subprocess.run(
        ["ogrinfo", "-ro", "-so", str(path)], capture_output=True, check=True, text=True, timeout=60
    ).stdout


async def control_map(client: httpx.AsyncClient) -> dict[int, dict[str, Any]]:
    body = (await client.get(CONTROL)).json()
    return {feature["id"]: feature for feature in body["features"]}


def flat(feature: dict[str, Any]) -> dict[str, Any]:
    """What the JSON answer says, as the flat properties an export carries."""
    properties = feature["properties"]
    controller = properties["controller"] or {}
    return {
        "slug": properties["slug"],
        "status": properties["status"],
        "controller_slug": controller.get("slug"),
        "controller_name": controller.get("name"),
        "coalitions": ",".join(sorted(c["slug"] for c in properties["coalitions"])) or None,
    }


async def test_control_as_csv_holds_the_map_rows_with_wkt_and_lon_lat(client: httpx.AsyncClient) -> None:
    expected = await control_map(client)
    response = await download(client, f"{CONTROL}&f=csv")
    assert response.headers["content-type"] == "text/csv; charset=utf-8; header=present"
    assert "etag" not in response.headers  # a text stream starts before its hash could be known
    assert b"\r\n" in response.content  # RFC 4180 line ends
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"), newline="")))
    assert len(rows) == len(expected)
    assert list(rows[0])[:3] == ["id", "slug", "name"] and list(rows[0])[-3:] == ["lon", "lat", "wkt"]
    for row in rows:
        feature = expected[int(row["id"])]
        want = {k: v or "" for k, v in flat(feature).items()}
        assert {k: row[k] for k in want} == want
        lon, lat = feature["geometry"]["coordinates"]
        assert float(row["lon"]) == pytest.approx(lon, abs=1e-5)
        assert float(row["lat"]) == pytest.approx(lat, abs=1e-5)
        assert row["wkt"] == f"POINT({row['lon']} {row['lat']})"
    palmyra = next(row for row in rows if row["slug"] == "palmyra")
    assert palmyra["controller_slug"] == "islamic-state"


async def test_csv_quotes_fields_with_commas_as_rfc_4180_says(client: httpx.AsyncClient) -> None:
    response = await download(client, f"/v1/territories?at={AT}&f=csv")
    lines = response.content.decode().split("\r\n")
    assert lines[-1] == "" and all('"MULTIPOLYGON(((' in line for line in lines[1:-1])
    rows = list(csv.reader(io.StringIO(response.content.decode(), newline="")))
    assert len(rows) == len(lines) - 1 and all(len(row) == len(rows[0]) for row in rows[1:])


@pytest.mark.parametrize(
    ("f", "accept", "separator"), [("ndjson", None, ""), (None, "application/geo+json-seq", "\x1e")]
)
async def test_ndjson_and_geojson_sequences_are_one_feature_a_line(
    client: httpx.AsyncClient, f: str | None, accept: str | None, separator: str
) -> None:
    expected = await control_map(client)
    url = f"{CONTROL}&f={f}" if f else CONTROL
    response = await download(client, url, **({"accept": accept} if accept else {}))
    assert response.headers["content-type"] == ("application/x-ndjson" if f else "application/geo+json-seq")
    # Split on LF only: str.splitlines() also splits on the RS that begins each record.
    lines = response.text.removesuffix("\n").split("\n")
    assert len(lines) == len(expected)
    for line in lines:
        assert line.startswith(separator) and line.count("\x1e") == len(separator)
        feature = json.loads(line.removeprefix(separator))
        assert feature["type"] == "Feature"
        assert {k: feature["properties"][k] for k in flat(expected[feature["id"]])} == flat(
            expected[feature["id"]]
        )
        assert all(not isinstance(v, dict | list) for v in feature["properties"].values())


@pytest.mark.parametrize(
    "query",
    [
        "at=2017-06-20&as_of=2999-01-01",
        "at=2016-12-20&bbox=36.5,35.5,39.5,37.0&kind=city,town",
        "at=2016-12-20&actor=islamic-state",
        "at=2016-12-20&coalition=pro-assad-coalition",
    ],
)
async def test_control_export_takes_the_maps_filters(client: httpx.AsyncClient, query: str) -> None:
    features = (await client.get(f"/v1/control?{query}")).json()["features"]
    response = await download(client, f"/v1/control?{query}&f=ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert features and [f["id"] for f in lines] == [f["id"] for f in features]
    for feature, line in zip(features, lines, strict=True):
        assert {k: line["properties"][k] for k in flat(feature)} == flat(feature)


async def test_flatgeobuf_read_by_gdal_holds_the_map_rows_and_answers_304(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    expected = await control_map(client)
    response = await download(client, f"{CONTROL}&f=fgb")
    assert response.headers["content-type"] == "application/flatgeobuf"
    assert response.content[:3] == b"fgb"
    read = read_with_gdal(tmp_path, response.content, ".fgb")
    assert len(read["features"]) == len(expected)
    for feature in read["features"]:
        properties = feature["properties"]
        want = flat(expected[properties["id"]])
        assert {k: properties.get(k) for k in want} == want  # GDAL leaves a NULL field out
        assert feature["geometry"]["coordinates"] == pytest.approx(
            expected[properties["id"]]["geometry"]["coordinates"], abs=1e-5
        )
    etag = response.headers["etag"]
    again = await client.get(f"{CONTROL}&f=fgb", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag


async def test_dataset_of_a_date_as_one_geopackage(client: httpx.AsyncClient, tmp_path: Path) -> None:
    expected = await control_map(client)
    response = await download(client, f"/v1/export?format=gpkg&at={AT}&include=events,territories")
    assert response.headers["content-type"] == "application/geopackage+sqlite3"
    assert response.content[:16] == b"SQLite format 3\x00"
    layers = gdal_layers(tmp_path, response.content)
    for layer in ("places (Point)", "events (Point)", "territories (Multi Polygon)"):
        assert layer in layers
    places = read_with_gdal(tmp_path, response.content, ".gpkg", "places")["features"]
    assert {f["properties"]["id"] for f in places} == set(expected)
    for feature in places:
        want = flat(expected[feature["properties"]["id"]])
        assert {k: feature["properties"].get(k) for k in want} == want
    territories = (await client.get(f"/v1/territories?at={AT}")).json()["features"]
    read = read_with_gdal(tmp_path, response.content, ".gpkg", "territories")["features"]
    assert {f["properties"]["id"] for f in read} == {t["id"] for t in territories}
    events = read_with_gdal(tmp_path, response.content, ".gpkg", "events")["features"]
    assert events and all(f["properties"]["occurred_on"] <= AT for f in events)
    json_events = (await client.get("/v1/events", params={"to": AT, "limit": 1000})).json()["items"]
    assert {f["properties"]["id"] for f in events} == {e["id"] for e in json_events}
    assert response.headers["etag"]


async def test_events_export_holds_the_events_the_list_holds(client: httpx.AsyncClient) -> None:
    params = {"place": "Tadmur", "limit": 1000}
    listed = (await client.get("/v1/events", params=params)).json()["items"]
    response = await download(client, "/v1/events?place=Tadmur&f=csv")
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert [int(row["id"]) for row in rows] == sorted(e["id"] for e in listed)
    assert {row["place_slug"] for row in rows} == {"palmyra"}
    unknown = await client.get("/v1/events?place=Atlantis&f=csv")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"


async def test_changes_and_territories_exports_hold_the_json_rows(client: httpx.AsyncClient) -> None:
    span = "from=2016-12-01&to=2017-01-31"
    changes = (await client.get(f"/v1/changes?{span}&limit=5000")).json()["changes"]
    response = await download(client, f"/v1/changes?{span}&f=ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [f["id"] for f in lines] == [c["place"]["id"] for c in changes]
    for feature, change in zip(lines, changes, strict=True):
        after = change["after"]["controller"] or {}
        assert feature["properties"]["controller_after"] == after.get("slug")
        assert feature["properties"]["status_before"] == change["before"]["status"]
    territories = (await client.get(f"/v1/territories?at={AT}")).json()["features"]
    response = await download(client, f"/v1/territories?at={AT}&f=csv")
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert [int(r["id"]) for r in rows] == sorted(t["id"] for t in territories)
    assert all(r["wkt"].startswith("MULTIPOLYGON") and "lon" not in r for r in rows)


async def test_ogc_items_export_the_filtered_features(client: httpx.AsyncClient) -> None:
    query = "filter=controller_slug%3D'islamic-state'&datetime=" + AT
    features = (await client.get(f"/ogc/collections/places/items?{query}&limit=10000")).json()["features"]
    response = await download(client, f"/ogc/collections/places/items?{query}&f=csv")
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert features and [int(r["id"]) for r in rows] == [f["id"] for f in features]
    assert {r["controller_slug"] for r in rows} == {"islamic-state"}


@pytest.mark.parametrize(
    "url",
    [f"{CONTROL}&f=shp", "/v1/export?format=shp", "/ogc/collections/places/items?f=xlsx", "/v1/events?f=kml"],
)
async def test_unknown_format_is_a_406_listing_the_formats(client: httpx.AsyncClient, url: str) -> None:
    response = await client.get(url)
    assert response.status_code == 406
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert EXPORT_TYPES <= set(problem["formats"]) and "csv" in problem["f"]


async def test_accept_header_chooses_the_format_or_is_refused(client: httpx.AsyncClient) -> None:
    csv_answer = await client.get(CONTROL, headers={"accept": "text/csv, */*;q=0.1"})
    assert csv_answer.headers["content-type"].startswith("text/csv")
    plain = await client.get(CONTROL, headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert plain.headers["content-type"] == "application/geo+json" and "etag" in plain.headers
    refused = await client.get(CONTROL, headers={"accept": "application/vnd.ms-excel"})
    assert refused.status_code == 406 and "text/csv" in refused.json()["formats"]


async def test_a_table_per_file_except_geopackage(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/export?format=csv&at={AT}&include=events")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "include"
    assert "gpkg" in response.text
    bad = await client.get(f"/v1/export?format=gpkg&at={AT}&include=front-lines")
    assert bad.status_code == 400 and "include" in bad.text


@pytest.mark.parametrize(
    "url",
    [
        f"{CONTROL}&actor=nobody&f=csv",
        f"/v1/territories?at={AT}&coalition=nobody&f=gpkg",
        "/v1/changes?from=2016-12-01&to=2017-01-31&actor=nobody&f=ndjson",
        "/v1/events?actor=nobody&f=fgb",
    ],
)
async def test_an_unknown_reference_is_a_404_before_any_byte(client: httpx.AsyncClient, url: str) -> None:
    response = await client.get(url)
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] in ("actor", "coalition")
