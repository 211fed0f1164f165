"""The country borders the project ships (Natural Earth, in the map's background file), for clipping areas
inferred from places to the country each place is in."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import orjson

# Inside the package (it is served at /static/background/region.geojson): found wherever the package is installed.
BACKGROUND = Path(__file__).resolve().parent.parent / "static" / "background" / "region.geojson"


@lru_cache
def country_borders() -> str:
    """A GeoJSON FeatureCollection of the region's countries, each with its ISO 3166-1 alpha-2 `code`."""
    background = orjson.loads(BACKGROUND.read_bytes())
    countries = [
        {"type": "Feature", "properties": {"code": f["properties"]["iso_a2"]}, "geometry": f["geometry"]}
        for f in background["features"]
        if f["properties"]["layer"] == "countries" and "iso_a2" in f["properties"]
    ]
    return orjson.dumps({"type": "FeatureCollection", "features": countries}).decode()
