"""Response shapes, for the OpenAPI document. The bodies themselves are built by PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel


class Ref(BaseModel):
    slug: str
    name: str


class PlaceRef(BaseModel):
    id: int
    slug: str
    name: str


class SourceRead(BaseModel):
    slug: str
    title: str
    publisher: str | None
    url: str | None
    published_on: date | None


class EventBrief(BaseModel):
    id: int
    external_id: str
    date: date
    precision: Literal["day", "month", "year"]
    kind: str
    confidence: str
    notes: str | None
    sources: list[SourceRead]


class ControlRead(BaseModel):
    place: PlaceRef
    at: date
    status: Literal["controlled", "contested", "besieged", "unknown"]
    controller: Ref | None
    coalitions: list[Ref]
    since: date | None
    until: date | None
    parties: list[Ref]
    certainty: Literal["definite", "possible"] | None
    event: EventBrief | None

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "place": {"id": 1, "slug": "palmyra", "name": "Palmyra"},
                    "at": "2016-12-20",
                    "status": "controlled",
                    "controller": {"slug": "islamic-state", "name": "Islamic State"},
                    "coalitions": [],
                    "since": "2016-12-11",
                    "until": "2017-03-02",
                    "parties": [],
                    "certainty": "definite",
                    "event": {
                        "id": 4,
                        "external_id": "palmyra-2016-12-11-is",
                        "date": "2016-12-11",
                        "precision": "day",
                        "kind": "recaptured",
                        "confidence": "confirmed",
                        "notes": None,
                        "sources": [],
                    },
                }
            ]
        }
    }


class EventRead(BaseModel):
    id: int
    external_id: str
    date: date
    precision: str
    kind: str
    status: str
    actor: Ref | None
    loses: Ref | None
    parties: list[Ref]
    confidence: str
    notes: str | None
    recorded_at: datetime
    sources: list[SourceRead]


class PeriodRead(BaseModel):
    since: date
    until: date | None
    status: str
    controller: Ref | None
    parties: list[Ref]
    event_id: int


class TimelineRead(BaseModel):
    place: PlaceRef
    periods: list[PeriodRead]
    events: list[EventRead]


class PlaceName(BaseModel):
    name: str
    lang: str | None


class PlaceRead(BaseModel):
    id: int
    slug: str
    name: str
    kind: str
    country_code: str
    population: int | None
    location: dict[str, Any]
    parent: PlaceRef | None
    children: list[PlaceRef]
    names: list[PlaceName]


class PlaceItem(BaseModel):
    id: int
    slug: str
    name: str
    kind: str
    country_code: str
    location: dict[str, Any]
    score: float | None = None
    matched_name: str | None = None
    distance_km: float | None = None


class PlacePage(BaseModel):
    items: list[PlaceItem]
    next: str | None


class State(BaseModel):
    status: str
    controller: Ref | None
    parties: list[Ref]
    since: date | None


class ChangeRead(BaseModel):
    place: dict[str, Any]
    before: State
    after: State
    events: list[EventRead] | None


class ChangesRead(BaseModel):
    from_: date
    to: date
    changes: list[ChangeRead]
    next: str | None

    model_config = {"populate_by_name": True}


class FeatureCollection(BaseModel):
    type: Literal["FeatureCollection"]
    at: date
    features: list[dict[str, Any]]


class EventItem(EventRead):
    """An event as it stands now, with the change (version) that made it so and its position in the feed."""

    position: int
    version: int
    change: Literal["created", "corrected", "retracted"]
    changed_at: datetime
    place: PlaceRef
    updated_at: datetime | None
    retracted_at: datetime | None


class EventPage(BaseModel):
    items: list[EventItem]
    next: str | None
    position: int | None
