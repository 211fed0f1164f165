"""Control events: what the event endpoints accept (an event, a batch, a correction) and answer."""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from app.schemas.common import Day, PlaceRef, Read, Ref, Reference, SourceReference, Strict
from app.schemas.history import RecordVersion
from app.schemas.sources import SourceRead
from app.vocabulary import Confidence, EventKind, PlaceKind, Precision, Status

EXAMPLE: dict[str, Any] = {
    "external_id": "palmyra-2016-12-11-is",
    "place": "Tadmur",
    "date": "2016-12-11",
    "precision": "day",
    "kind": "recaptured",
    "actor": "islamic-state",
    "loses": "syrian-army",
    "status": "controlled",
    "confidence": "confirmed",
    "sources": ["wp-palmyra-offensive-2016-12"],
    "notes": "IS re-entered Palmyra after a week-long offensive.",
}


class EventFields(Strict):
    """A control event. `date` is the first day the new state holds; month/year precision means anywhere in it."""

    place: Reference
    date: Day
    precision: Precision = "day"
    seq: int = Field(default=0, ge=0, le=100)
    kind: EventKind
    actor: Reference | None = None
    loses: Reference | None = None
    status: Status
    parties: list[Reference] = []
    confidence: Confidence = Field(
        default="confirmed",
        description="How sure the claim is: confirmed > reported > claimed (one party's word). Where sources "
        "disagree on a day, the surer claim gives the state and the others are shown as alternatives",
    )
    sources: list[SourceReference] = Field(min_length=1)
    notes: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.precision == "month" and self.date.day != 1:
            raise ValueError("a month-precision date must be the first of the month")
        if self.precision == "year" and (self.date.month, self.date.day) != (1, 1):
            raise ValueError("a year-precision date must be 1 January")
        if self.status != "contested" and not self.actor:
            raise ValueError(f"a {self.status} place needs an 'actor' that holds it")
        if self.status == "contested" and len(set(self.parties) | ({self.actor} - {None})) < 2:
            raise ValueError("a contested place needs at least two 'parties'")
        if self.status == "besieged" and not self.parties:
            raise ValueError("a besieged place needs the besieger in 'parties'")
        return self


class PlaceLocation(Strict):
    """Where the event's place is, for a place that may not be known yet: WGS84 degrees (EPSG:4326). With it,
    `place` is the place's name and the gazetteer decides which place that is: a known place within a distance
    that depends on its kind (a city 15 km, a village 2.5 km) and named alike (transliterations, the article), or
    else a new place of this `kind` (default town) and `country` (default: from the coordinates), flagged for
    review (`/v1/places?review=true`)."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    kind: PlaceKind | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")


class EventCreate(EventFields):
    """A control event to record. Places, actors and sources are named by slug or any known spelling.

    `external_id` is the event's identity for retries: sending the same event again creates nothing. It may be
    left out when the request carries an `Idempotency-Key` header, from which it is then derived. With
    `location`, `place` is a name the gazetteer resolves near those coordinates (creating the place if none fits)."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [EXAMPLE]},
    )

    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    location: PlaceLocation | None = None


class EventBatch(Strict):
    """Events recorded in one transaction: all of them, or none."""

    events: list[EventCreate] = Field(min_length=1)


class EventPatch(Strict):
    """A correction: the fields to change. The previous version stays in the event's history."""

    place: Reference | None = None
    date: Day | None = None
    precision: Precision | None = None
    seq: int | None = Field(default=None, ge=0, le=100)
    kind: EventKind | None = None
    actor: Reference | None = None
    loses: Reference | None = None
    status: Status | None = None
    parties: list[Reference] | None = None
    confidence: Confidence | None = None
    sources: list[SourceReference] | None = Field(default=None, min_length=1)
    notes: str | None = None


class EventRead(Read):
    id: int
    external_id: str
    date: date
    precision: str
    kind: str
    status: str
    actor: Ref | None
    loses: Ref | None
    parties: list[Ref]
    confidence: Confidence
    notes: str | None
    recorded_at: datetime
    sources: list[SourceRead]


class Alternative(Read):
    """A rival claim: another source's event giving the place another state on a day the answer rests on."""

    status: Status
    controller: Ref | None
    parties: list[Ref]
    confidence: Confidence
    event_id: int = Field(description="The rival event: /v1/events/{event_id}")
    external_id: str
    date: date
    sources: list[SourceRead]


DISPUTED = "Whether the answer rests on a day where sources disagree (the rival claims: `alternatives`)"


class EventItem(EventRead):
    """An event as it stands now, with the change (version) that made it so and its position in the feed."""

    position: int
    version: int
    change: Literal["created", "corrected", "retracted"]
    changed_at: datetime
    place: PlaceRef
    updated_at: datetime | None
    retracted_at: datetime | None


class EventPage(Read):
    # A change of another resource (asked for with `resources`) is a RecordVersion; it carries `resource`.
    items: list[EventItem | RecordVersion]
    next: str | None
    position: int | None


class EventDetail(EventRead):
    """An event as it stands now: its place, latest version, and when it was corrected or retracted."""

    place: PlaceRef
    version: int
    updated_at: datetime | None
    retracted_at: datetime | None


class LocatedPlace(Read):
    """The place an event's `location` resolved to: a known one (`matched`, at `distance_km` from the point given)
    or one created for it (`created`, flagged for review)."""

    id: int
    slug: str
    name: str
    result: Literal["matched", "created"]
    distance_km: float | None


class EventBatchItem(Read):
    index: int
    id: int
    external_id: str
    result: Literal["created", "existing"]
    place: LocatedPlace | None = None


class EventBatchReport(Read):
    created: int
    existing: int
    items: list[EventBatchItem]


class EventVersion(Read):
    """What one version of an event said (references by slug), and when it was the record."""

    version: int
    change: Literal["created", "corrected", "retracted"]
    recorded_from: datetime
    recorded_until: datetime | None
    recorded_by: str | None
    place: PlaceRef | None
    date: dt.date
    precision: Precision
    seq: int
    kind: EventKind
    status: Status
    actor: Ref | None
    loses: Ref | None
    parties: list[str]
    confidence: Confidence
    notes: str | None
    sources: list[str]


class EventHistory(Read):
    id: int
    external_id: str
    retracted_at: datetime | None
    versions: list[EventVersion]
