"""The shapes of the dataset files in `data/` (and, for events, of what ingestion accepts)."""

from __future__ import annotations

from datetime import date
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from app.vocabulary import ActorKind, Confidence, EventKind, MembershipRole, PlaceKind, Precision, Status

Slug = Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=120)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SourceIn(Strict):
    slug: str = Slug
    title: str = Field(min_length=1)
    publisher: str | None = None
    url: str | None = None
    published_on: date | None = None
    notes: str | None = None


class ActorIn(Strict):
    slug: str = Slug
    name: str = Field(min_length=1)
    aliases: list[str] = []
    kind: ActorKind
    parent: str | None = None
    color: str = Field(default="#808080", pattern=r"^#[0-9a-fA-F]{6}$")
    notes: str | None = None


class MembershipIn(Strict):
    actor: str
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None  # exclusive; None = open
    role: MembershipRole = "member"
    note: str | None = None
    source: str | None = None

    # On the field, not the model, so a problem names `to`.
    @field_validator("to")
    @classmethod
    def _ordered(cls, to: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("from_")
        if start and to and to <= start:
            raise ValueError(
                f"membership of {info.data.get('actor')}: 'to' ({to}) must be after 'from' ({start}); "
                "'to' is the first day it is no longer a member"
            )
        return to


class CoalitionIn(Strict):
    slug: str = Slug
    name: str = Field(min_length=1)
    description: str | None = None
    color: str = Field(default="#808080", pattern=r"^#[0-9a-fA-F]{6}$")
    members: list[MembershipIn] = []


class PlaceNameIn(Strict):
    name: str = Field(min_length=1)
    lang: str | None = None


class PlaceIn(Strict):
    slug: str = Slug
    name: str = Field(min_length=1)
    kind: PlaceKind
    country: str = Field(pattern=r"^[A-Z]{2}$")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    population: int | None = Field(default=None, ge=0)
    parent: str | None = None
    names: list[PlaceNameIn] = []


class EventFields(Strict):
    """A control event. `date` is the first day the new state holds; month/year precision means anywhere in it."""

    place: str
    date: date
    precision: Precision = "day"
    seq: int = Field(default=0, ge=0, le=100)
    kind: EventKind
    actor: str | None = None
    loses: str | None = None
    status: Status
    parties: list[str] = []
    confidence: Confidence = "confirmed"
    sources: list[str] = Field(min_length=1)
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


class EventIn(EventFields):
    """An event of the dataset files: its external_id is its stable identity."""

    external_id: str = Field(min_length=1, max_length=200)
