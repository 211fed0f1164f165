"""What territory and front-line ingestion accepts: GeoJSON Features (geojson-pydantic) with our properties.

Coordinates are longitude, latitude in EPSG:4326 (RFC 7946) unless a legacy GeoJSON `crs` member names another
EPSG code, in which case PostGIS reprojects them. The same shapes are used by `data/territories.geojson` and
`data/frontlines.geojson`.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal, Self

from geojson_pydantic import Feature, LineString, MultiLineString, MultiPolygon, Polygon
from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.schemas.common import ColoredRef, Day, Read, Ref
from app.schemas.sources import SourceRead

# A feature with more vertices than this is refused: split it, or simplify it first. 100,000 vertices is a
# detailed country border; a front line or a held area needs far fewer.
MAX_VERTICES = 100_000
WGS84 = 4326

SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
ExternalIdField = Field(
    min_length=1,
    max_length=200,
    pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$",
    description="Your stable id for this feature: resending it with the same content is a no-op",
)

_EPSG = re.compile(r"^(?:EPSG:|urn:ogc:def:crs:EPSG:[0-9.]*:)(\d{3,6})$", re.IGNORECASE)
_CRS84 = re.compile(r"^urn:ogc:def:crs:OGC:1\.3:CRS84$|^OGC:CRS84$", re.IGNORECASE)


class CrsProperties(BaseModel):
    name: str = Field(examples=["EPSG:3857", "urn:ogc:def:crs:EPSG::32637"])


class Crs(BaseModel):
    """A legacy (GeoJSON 2008) named CRS; RFC 7946 dropped it, but exports from GIS tools still carry it."""

    type: Literal["name"]
    properties: CrsProperties

    def epsg(self) -> int:
        name = self.properties.name.strip()
        if _CRS84.match(name):
            return WGS84
        if match := _EPSG.match(name):
            return int(match[1])
        raise ValueError(f"'{name}' is not an EPSG code (EPSG:NNNN or urn:ogc:def:crs:EPSG::NNNN)")


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_id: str = ExternalIdField
    valid_from: Day = Field(description="First day it holds (inclusive)")
    valid_to: Day | None = Field(
        default=None, description="First day it no longer holds (exclusive); null = open"
    )
    source: str | None = Field(default=None, pattern=SLUG, description="Source slug")
    approximate: bool = True
    notes: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValueError(f"valid_to ({self.valid_to}) must be after valid_from ({self.valid_from})")
        return self


class TerritoryProperties(_Common):
    actor: str = Field(pattern=SLUG, description="Slug of the actor holding the area")


class FrontLineProperties(_Common):
    side_a: str = Field(pattern=SLUG, description="Actor slug on one side")
    side_b: str = Field(pattern=SLUG, description="Actor slug on the other side")

    @model_validator(mode="after")
    def _two_sides(self) -> Self:
        if self.side_a == self.side_b:
            raise ValueError("side_a and side_b must be different actors")
        return self


class TerritoryFeatureIn(Feature[Polygon | MultiPolygon, TerritoryProperties]):
    """An area an actor held over a date range. Polygons are stored as MultiPolygons."""

    # Required, though GeoJSON allows null: a Feature without them describes no area.
    geometry: Polygon | MultiPolygon
    properties: TerritoryProperties
    crs: Crs | None = None


class FrontLineFeatureIn(Feature[LineString | MultiLineString, FrontLineProperties]):
    """A line between two sides over a date range. LineStrings are stored as MultiLineStrings."""

    geometry: LineString | MultiLineString  # required, as above
    properties: FrontLineProperties
    crs: Crs | None = None


def positions(geometry: Polygon | MultiPolygon | LineString | MultiLineString) -> list[tuple[str, Any]]:
    """Every position with its path under `geometry.coordinates`, for range checks and vertex counts."""
    coordinates: Any = geometry.coordinates
    depth = {"LineString": 1, "Polygon": 2, "MultiLineString": 2, "MultiPolygon": 3}[geometry.type]
    found: list[tuple[str, Any]] = []

    def walk(node: Any, path: str, level: int) -> None:
        if level == 0:
            found.append((path, node))
            return
        for index, child in enumerate(node):
            walk(child, f"{path}.{index}", level - 1)

    walk(coordinates, "geometry.coordinates", depth)
    return found


def vertex_count(geometry: Polygon | MultiPolygon | LineString | MultiLineString) -> int:
    coordinates: Any = geometry.coordinates
    if geometry.type == "LineString":
        return len(coordinates)
    if geometry.type in ("Polygon", "MultiLineString"):
        return sum(len(part) for part in coordinates)
    return sum(len(ring) for polygon in coordinates for ring in polygon)


class OverlapRead(Read):
    territory: dict[str, Any]
    dates: dict[str, date | None]
    area_km2: float
    bbox: list[float]
    geometry: dict[str, Any]


class IngestItem(Read):
    id: int
    external_id: str
    result: Literal["created", "existing", "updated"]
    overlaps: list[OverlapRead] = []


class IngestBatchItem(IngestItem):
    index: int


class IngestReport(Read):
    created: int
    existing: int
    items: list[IngestBatchItem]


class TerritoryRead(Read):
    id: int
    external_id: str
    actor: ColoredRef
    color: str
    coalitions: list[Ref]
    valid_from: date
    valid_to: date | None
    source: SourceRead | None
    approximate: bool
    notes: str | None
    area_km2: float = Field(description="Geodesic area of the whole territory, km²")


class TerritoryFeature(Feature[Polygon | MultiPolygon, TerritoryRead]):
    id: int


class TerritoryMap(Read):
    type: Literal["FeatureCollection"]
    at: date
    features: list[TerritoryFeature]


class FrontLineRead(Read):
    id: int
    external_id: str
    side_a: ColoredRef
    side_b: ColoredRef
    valid_from: date
    valid_to: date | None
    source: SourceRead | None
    approximate: bool
    notes: str | None
    length_km: float = Field(description="Geodesic length, km")


class FrontLineFeature(Feature[LineString | MultiLineString, FrontLineRead]):
    id: int


class FrontLineMap(Read):
    type: Literal["FeatureCollection"]
    at: date
    features: list[FrontLineFeature]


class DiffTotals(Read):
    held_before_km2: float
    held_after_km2: float
    gained_km2: float | None
    lost_km2: float | None
    net_km2: float | None


class DiffChange(Read):
    change: Literal["gained", "lost"]
    area_km2: float


class DiffFeature(Feature[Polygon | MultiPolygon, DiffChange]):
    pass


class TerritoryDiff(Read):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: Literal["FeatureCollection"]
    actor: ColoredRef
    from_: date = Field(alias="from")
    to: date
    totals: DiffTotals
    features: list[DiffFeature]
