"""Places: what the place endpoints accept (a place, its spellings, corrections) and answer (a place, search
pages, who held it on a date, its timeline)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from geojson_pydantic import Point
from pydantic import Field, field_validator

from app.schemas.common import (
    Count,
    Lang,
    Name,
    PlaceRef,
    Read,
    Ref,
    Reference,
    Slug,
    Strict,
    Warning,
    examples,
)
from app.schemas.events import DISPUTED, Alternative, EventRead
from app.schemas.sources import SourceRead
from app.vocabulary import Confidence, PlaceKind


class PlaceNameIn(Strict):
    name: Name
    lang: Lang | None = None


class PlaceIn(Strict):
    slug: str = Slug
    name: Name
    kind: PlaceKind
    country: str = Field(pattern=r"^[A-Z]{2}$")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    population: Count | None = None
    parent: Reference | None = None
    names: list[PlaceNameIn] = []


class PlaceCreate(PlaceIn):
    """A place. `lat` and `lon` are WGS84 degrees (EPSG:4326): latitude -90..90, longitude -180..180; answers give
    the location as GeoJSON, longitude first. `name` is the primary spelling; `names` adds others (any script).
    `parent` is the slug (or a spelling) of the place it belongs to."""

    model_config = examples(
        {
            "slug": "al-qaryatayn",
            "name": "al-Qaryatayn",
            "kind": "town",
            "country": "SY",
            "lat": 34.2286,
            "lon": 37.2406,
            "population": 14208,
            "names": [{"name": "القريتين", "lang": "ar"}, {"name": "Qaryatayn", "lang": "ar-Latn"}],
        }
    )

    @field_validator("slug")
    @classmethod
    def _not_an_id(cls, slug: str) -> str:
        if slug.isdigit():
            raise ValueError("must contain a letter: a place reference made only of digits is read as an id")
        return slug


class PlacePatch(Strict):
    """A correction of a place: the fields to change (the slug never changes). A new `name` also becomes a
    spelling; the old one stays a spelling. `parent: null` detaches it from its parent."""

    model_config = examples({"population": 15000}, {"lat": 34.23, "lon": 37.24})

    name: Name | None = None
    kind: PlaceKind | None = None
    country: str | None = None
    lat: float | None = Field(default=None, description="WGS84 latitude, -90..90")
    lon: float | None = Field(default=None, description="WGS84 longitude, -180..180")
    population: Count | None = None
    parent: Reference | None = None
    review: str | None = Field(
        default=None,
        max_length=2000,
        description="Why the place awaits review; `null` clears the flag once it is checked (the gazetteer sets it "
        "on the places it creates)",
    )


class PlaceNames(Strict):
    """Spellings to add to a place (any script; `lang` a BCP 47 tag such as `ar`, `ar-Latn`, `fr`)."""

    model_config = examples({"names": [{"name": "Tadmor", "lang": "ar-Latn"}]})

    names: list[PlaceNameIn] = Field(min_length=1, max_length=200)


class PlaceName(Read):
    name: str
    lang: str | None


class PlaceRead(Read):
    id: int
    slug: str
    name: str
    kind: PlaceKind
    country_code: str
    population: int | None
    location: Point
    parent: PlaceRef | None
    children: list[PlaceRef]
    names: list[PlaceName]
    review: str | None = Field(
        description="Why the place awaits review (created by the gazetteer from an event's name and "
        "coordinates); null when it does not"
    )


class PlaceItem(Read):
    id: int
    slug: str
    name: str
    kind: PlaceKind
    country_code: str
    location: Point
    review: str | None
    score: float | None = None
    matched_name: str | None = None
    distance_km: float | None = None


class PlacePage(Read):
    items: list[PlaceItem]
    next: str | None


class EventBrief(Read):
    id: int
    external_id: str
    date: date
    precision: Literal["day", "month", "year"]
    kind: str
    confidence: Confidence
    notes: str | None
    sources: list[SourceRead]


class TerritoryBasis(Read):
    """The territory a place lies in, when no control period covers it on the date."""

    id: int
    external_id: str
    valid_from: date
    valid_to: date | None
    approximate: bool
    source: SourceRead | None


class ControlRead(Read):
    place: PlaceRef
    at: date
    basis: Literal["event", "territory"] | None
    status: Literal["controlled", "contested", "besieged", "unknown"]
    controller: Ref | None
    coalitions: list[Ref]
    since: date | None
    until: date | None
    parties: list[Ref]
    certainty: Literal["definite", "possible"] | None
    disputed: bool = Field(description=DISPUTED)
    alternatives: list[Alternative]
    event: EventBrief | None
    territory: TerritoryBasis | None = None

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "place": {"id": 1, "slug": "palmyra", "name": "Palmyra"},
                    "at": "2016-12-20",
                    "basis": "event",
                    "status": "controlled",
                    "controller": {"slug": "islamic-state", "name": "Islamic State"},
                    "coalitions": [],
                    "since": "2016-12-11",
                    "until": "2017-03-02",
                    "parties": [],
                    "certainty": "definite",
                    "disputed": False,
                    "alternatives": [],
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


class PeriodRead(Read):
    since: date
    until: date | None
    status: str
    controller: Ref | None
    parties: list[Ref]
    confidence: Confidence = Field(description="The confidence of the claim the period rests on")
    disputed: bool = Field(description=DISPUTED)
    alternatives: list[Alternative]
    event_id: int


class TimelineRead(Read):
    place: PlaceRef
    periods: list[PeriodRead]
    events: list[EventRead]


class PlaceWritten(PlaceRead):
    warnings: list[Warning]
