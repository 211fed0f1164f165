"""Response shapes of what the map page reads beyond the core API: the calendar, inferred areas, fighting."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel


class EventDay(BaseModel):
    date: date
    events: int


class CalendarRead(BaseModel):
    """The span of the data (events, areas and lines) and every date that has events."""

    first: date | None
    last: date | None
    dates: list[EventDay]


class ColoredActor(BaseModel):
    slug: str
    name: str
    color: str


class InferredProperties(BaseModel):
    basis: Literal["inferred"]
    status: Literal["controlled", "contested"]
    actor: ColoredActor | None
    color: str
    places: list[str]
    area_km2: float


class InferredFeature(BaseModel):
    type: Literal["Feature"]
    geometry: dict[str, object]
    properties: InferredProperties


class InferredAreas(BaseModel):
    """GeoJSON FeatureCollection (longitude, latitude): one MultiPolygon per holder, and one for contested places."""

    type: Literal["FeatureCollection"]
    at: date
    basis: Literal["inferred"]
    features: list[InferredFeature]


class FoughtOverPlace(BaseModel):
    slug: str
    name: str
    status: Literal["contested", "besieged"]
    controller: ColoredActor | None
    parties: list[ColoredActor]


class ContestedRead(BaseModel):
    at: date
    places: list[FoughtOverPlace]
