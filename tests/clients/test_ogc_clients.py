"""The OGC surface as real clients use it, over HTTP against a live server: GDAL's OAPIF driver (ogrinfo,
ogr2ogr to a GeoPackage read back), OWSLib's Features client, and the ogctests suite for Part 1 core.

GDAL comes from Debian's gdal-bin (.ci/run installs it): these tests fail, not skip, without it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import ogctests
from owslib.ogcapi.features import Features

TIMEOUT = 120  # seconds one client run may take before the test fails


async def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[str, str]:
    """A client as a subprocess (the server keeps serving in this event loop meanwhile): stdout, stderr."""
    assert shutil.which(args[0]), f"{args[0]} is not installed (Debian: apt-get install gdal-bin)"
    process = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    async with asyncio.timeout(TIMEOUT):
        out, err = await process.communicate()
    assert process.returncode == 0, out.decode() + err.decode()
    return out.decode(), err.decode()


async def features(source: str, layer: str, *options: str) -> tuple[list[dict[str, Any]], str]:
    """What GDAL reads from a layer (ogr2ogr to GeoJSON on stdout), and its debug log."""
    out, log = await run("ogr2ogr", "--debug", "on", "-f", "GeoJSON", "/vsistdout/", source, layer, *options)
    found: list[dict[str, Any]] = json.loads(out)["features"]
    return found, log


async def field_types(source: str, layer: str) -> dict[str, str]:
    """ogrinfo's summary of a layer: each field's type ("name: Type (width.precision)"), and its
    "Feature Count"."""
    out, _ = await run("ogrinfo", "-ro", "-so", source, layer)
    return {
        name: value.split(" ")[0]
        for line in out.splitlines()
        if ": " in line and not line.startswith(" ")
        for name, value in [line.split(": ", 1)]
    }


async def test_gdal_lists_the_collections_with_their_extents(live_server: str) -> None:
    out, _ = await run("ogrinfo", "-ro", "-q", f"OAPIF:{live_server}/ogc")
    for line in (
        "1: places (title: Places on a date) (Point)",
        "2: control-periods (title: Control periods) (Point)",
        "3: territories (title: Territories) (Multi Polygon)",
        "4: front-lines (title: Front lines) (Multi Line String)",
        "5: events (title: Control events) (Point)",
    ):
        assert line in out


async def test_gdal_reads_places_on_a_date_with_typed_fields(live_server: str) -> None:
    source = f"OAPIF:{live_server}/ogc?datetime=2016-12-20"
    fields = await field_types(source, "places")
    assert fields["since"] == "Date" and fields["until"] == "Date" and fields["event_id"] == "Integer"
    assert fields["coalitions"] == "String" and fields["Feature Count"] == "22"
    found, _ = await features(source, "places")
    by_slug = {f["properties"]["slug"]: f["properties"] for f in found}
    assert len(by_slug) == 22
    # Palmyra fell to IS on 11 Dec 2016; on the 20th IS held it (the same fact as /v1/control).
    assert by_slug["palmyra"]["controller_slug"] == "islamic-state"
    assert by_slug["palmyra"]["since"] == "2016-12-11"
    assert by_slug["tiyas-airbase"]["coalitions"] == "pro-assad-coalition"


async def test_gdal_where_on_a_property_is_answered_by_the_server(live_server: str) -> None:
    found, log = await features(
        f"OAPIF:{live_server}/ogc?datetime=2016-12-20",
        "places",
        "-where",
        "controller_slug = 'islamic-state'",
    )
    assert "controller_slug=islamic-state" in log  # sent to the server, not filtered by GDAL
    slugs = {f["properties"]["slug"] for f in found}
    assert "palmyra" in slugs and "tiyas-airbase" not in slugs
    assert {f["properties"]["controller_slug"] for f in found} == {"islamic-state"}


async def test_gdal_temporal_filter_selects_events_by_date(live_server: str) -> None:
    found, log = await features(
        f"OAPIF:{live_server}/ogc",
        "events",
        "-where",
        "occurred_on >= '2016-12-01' AND occurred_on <= '2016-12-31'",
    )
    assert "datetime=2016-12-01T%2F2016-12-31T" in log  # GDAL turns it into `datetime`
    days = [f["properties"]["occurred_on"] for f in found]
    assert days and all("2016-12-01" <= day <= "2016-12-31" for day in days)
    assert "2016-12-11" in days  # Palmyra retaken by IS


async def test_gdal_copies_territories_to_a_geopackage_and_reads_it_back(
    live_server: str, tmp_path: Path
) -> None:
    target = tmp_path / "territories.gpkg"
    await run("ogr2ogr", "-f", "GPKG", str(target), f"OAPIF:{live_server}/ogc", "territories")
    fields = await field_types(str(target), "territories")
    assert fields["Feature Count"] == "20"
    assert fields["valid_from"] == "Date" and fields["area_km2"] == "Real"
    assert fields["approximate"] == "Integer(Boolean)"
    found, _ = await features(str(target), "territories")
    palmyra = next(f for f in found if f["properties"]["external_id"] == "sy-palmyra-2016-03-27")
    assert palmyra["properties"]["actor_slug"] == "syrian-army"
    assert palmyra["properties"]["valid_to"] == "2016-12-11"
    assert palmyra["geometry"]["type"] == "MultiPolygon"


async def test_owslib_reads_items_with_datetime_bbox_and_filter(live_server: str) -> None:
    def read() -> dict[str, Any]:
        client = Features(f"{live_server}/ogc")
        ids = [c["id"] for c in client.collections()["collections"]]
        on_date = client.collection_items("places", datetime_="2016-12-20", limit=100)
        in_box = client.collection_items(
            "places", datetime_="2016-12-20", bbox=[36.0, 35.0, 39.0, 37.0], limit=100
        )
        filtered = client.collection_items(
            "places", datetime_="2016-12-20", filter="controller_slug = 'islamic-state' AND kind = 'city'"
        )
        periods = client.collection_items("control-periods", datetime_="2016-12-11/2016-12-11")
        return {"ids": ids, "on_date": on_date, "in_box": in_box, "filtered": filtered, "periods": periods}

    answers = await asyncio.to_thread(read)
    assert answers["ids"] == ["places", "control-periods", "territories", "front-lines", "events"]
    assert answers["on_date"]["numberMatched"] == 22
    boxed = answers["in_box"]["features"]
    assert boxed and all(36 <= f["geometry"]["coordinates"][0] <= 39 for f in boxed)
    assert all(35 <= f["geometry"]["coordinates"][1] <= 37 for f in boxed)
    filtered = answers["filtered"]["features"]
    assert {f["properties"]["slug"] for f in filtered} >= {"palmyra"}
    assert {(f["properties"]["controller_slug"], f["properties"]["kind"]) for f in filtered} == {
        ("islamic-state", "city")
    }
    # The day IS retook Palmyra, both the ending and the beginning period are... only the new one is valid.
    palmyra = [f for f in answers["periods"]["features"] if f["properties"]["place_slug"] == "palmyra"]
    assert [p["properties"]["valid_from"] for p in palmyra] == ["2016-12-11"]


async def test_ogctests_part1_core_passes(live_server: str, tmp_path: Path) -> None:
    suite = Path(ogctests.__file__).parent / "features" / "core"
    out, _ = await run(
        sys.executable,
        "-m",
        "pytest",
        str(suite),
        "-q",
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore",
        "--rootdir",
        str(tmp_path),
        "-c",
        os.devnull,
        env={"INSTANCE_URL": f"{live_server}/ogc"},
        cwd=tmp_path,
    )
    summary = out.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed.*", summary), out
    assert int(summary.split()[0]) >= 29, out  # the whole core suite ran (29 tests in ogctests 0.1.15)
    print(summary)


async def test_gdal_mvt_driver_reads_the_date_from_the_tile_path(live_server: str) -> None:
    """GDAL's MVT driver appends /{x}/{y}.mvt to a zoom level's URL, so the date travels in the path. (The z0
    tile shows the most prominent place of its cell: Aleppo, retaken on 2016-12-22.)"""

    async def aleppo_on(day: str) -> dict[str, Any]:
        source = f"MVT:{live_server}/v1/tiles/places/{day}/0"
        found, log = await features(source, "places", "-oo", "TILE_EXTENSION=mvt")
        assert f"/v1/tiles/places/{day}/0/0/0.mvt" in log
        return next(f["properties"] for f in found if f["properties"]["slug"] == "aleppo")

    assert (await aleppo_on("2017-01-10"))["controller"] == "syrian-army"
    assert (await aleppo_on("2016-12-01"))["status"] == "contested"
