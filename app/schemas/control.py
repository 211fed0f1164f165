"""The control map of a date, the changes between two dates, and the per-date summary."""

from __future__ import annotations

from datetime import date
from typing import Literal

from geojson_pydantic import Feature, Point
from pydantic import ConfigDict, Field

from app.schemas.common import Read, Ref
from app.schemas.events import DISPUTED, Alternative, EventRead
from app.vocabulary import Confidence, PlaceKind

ControlStatus = Literal["controlled", "contested", "besieged", "unknown"]


class ControlProperties(Read):
    """A place's state on the date, as /v1/places/{ref}/control says it (without the event's full text)."""

    id: int
    slug: str
    name: str
    kind: PlaceKind
    basis: Literal["event", "territory"] | None
    status: ControlStatus
    controller: Ref | None
    color: str | None = Field(description="The controller's map colour")
    coalitions: list[Ref]
    since: date | None
    until: date | None = Field(description="The first day the state no longer holds (null: open)")
    parties: list[Ref] = Field(
        description="Between whom a contested place is fought over, or who besieges it"
    )
    certainty: Literal["definite", "possible"] | None
    disputed: bool = Field(description=DISPUTED)
    alternatives: list[Alternative]
    event_id: int | None = Field(
        description="The event the state rests on: /v1/events/{event_id}, sources included"
    )
    territory_id: int | None = Field(description="The territory it rests on when no event covers the date")


class ControlFeature(Feature[Point, ControlProperties]):
    id: int


class ControlMap(Read):
    """A GeoJSON FeatureCollection of every place's state on `at`."""

    type: Literal["FeatureCollection"]
    at: date
    features: list[ControlFeature]


class State(Read):
    status: ControlStatus
    controller: Ref | None
    parties: list[Ref]
    since: date | None
    disputed: bool = Field(description=DISPUTED)
    alternatives: list[Alternative]


class ChangedPlace(Read):
    id: int
    slug: str
    name: str
    kind: PlaceKind
    location: Point


class ChangeRead(Read):
    place: ChangedPlace
    before: State
    after: State
    events: list[EventRead] | None


class ChangesRead(Read):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    changes: list[ChangeRead]
    next: str | None


class DisputeRead(Read):
    """A disputed period: the state the resolution rule gave it, and the rival claims of its days."""

    place: ChangedPlace
    since: date
    until: date | None = Field(description="The first day the period no longer holds (null: open)")
    status: Literal["controlled", "contested", "besieged"]
    controller: Ref | None
    parties: list[Ref]
    confidence: Confidence = Field(description="The confidence of the claim the period rests on")
    event_id: int = Field(description="The event the period rests on: /v1/events/{event_id}")
    alternatives: list[Alternative] = Field(min_length=1)


class DisputesRead(Read):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    disputes: list[DisputeRead]
    next: str | None


class ActorTotals(Read):
    slug: str
    name: str
    places: int
    by_kind: dict[str, int]
    contested: int
    area_km2: float


class CoalitionTotals(Read):
    slug: str
    name: str
    places: int
    by_kind: dict[str, int]
    area_km2: float


class SummaryRead(Read):
    at: date
    places_known: int
    actors: list[ActorTotals]
    coalitions: list[CoalitionTotals]
