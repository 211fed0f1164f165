"""TileJSON 3.0.0 (https://github.com/mapbox/tilejson-spec/tree/master/3.0.0): what a map client reads to use
a layer's vector tiles."""

from __future__ import annotations

from typing import Literal

from app.schemas.common import Read


class VectorLayer(Read):
    id: str
    description: str
    minzoom: int
    maxzoom: int
    fields: dict[str, str]


class TileJSON(Read):
    tilejson: Literal["3.0.0"]
    name: str
    description: str
    version: str
    attribution: str
    scheme: Literal["xyz"]
    tiles: list[str]
    minzoom: int
    maxzoom: int
    bounds: list[float]
    center: list[float]
    vector_layers: list[VectorLayer]
