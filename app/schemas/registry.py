"""What the reference-data endpoints accept: places and their spellings, actors, coalitions and memberships,
sources.

Creating reuses the dataset models (the same vocabularies and checks as `territory seed`). A correction (PATCH)
lists only the fields to change; the merged result is checked against the same model, so a rule is written once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from app.schemas.dataset import (
    ActorIn,
    CoalitionIn,
    MembershipIn,
    PlaceIn,
    PlaceNameIn,
    SourceIn,
    Strict,
)
from app.vocabulary import ActorKind, MembershipRole, PlaceKind


def examples(*items: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": list(items)})


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

    name: str | None = None
    kind: PlaceKind | None = None
    country: str | None = None
    lat: float | None = Field(default=None, description="WGS84 latitude, -90..90")
    lon: float | None = Field(default=None, description="WGS84 longitude, -180..180")
    population: int | None = None
    parent: str | None = None


class PlaceNames(Strict):
    """Spellings to add to a place (any script; `lang` a BCP 47 tag such as `ar`, `ar-Latn`, `fr`)."""

    model_config = examples({"names": [{"name": "Tadmor", "lang": "ar-Latn"}]})

    names: list[PlaceNameIn] = Field(min_length=1, max_length=200)


class ActorCreate(ActorIn):
    """An armed actor. `aliases` are other names it is known by (events may name it by any of them); `parent` is
    the slug of the actor it belongs to; `color` its map colour."""

    model_config = examples(
        {
            "slug": "liwa-fatemiyoun",
            "name": "Liwa Fatemiyoun",
            "aliases": ["Fatemiyoun Brigade"],
            "kind": "militia",
            "color": "#6b3fa0",
        }
    )


class ActorPatch(Strict):
    """A correction of an actor: the fields to change (the slug never changes). `aliases` replaces the list."""

    model_config = examples({"aliases": ["Fatemiyoun Brigade", "Fatemiyoun Division"]})

    name: str | None = None
    aliases: list[str] | None = None
    kind: ActorKind | None = None
    parent: str | None = None
    color: str | None = None
    notes: str | None = None


class SourceCreate(SourceIn):
    """A source events and memberships cite: a report, an article, a dataset."""

    model_config = examples(
        {
            "slug": "reuters-2017-03-02-palmyra",
            "title": "Syrian army retakes Palmyra from Islamic State",
            "publisher": "Reuters",
            "url": "https://www.reuters.com/article/us-mideast-crisis-syria-palmyra-idUSKBN16911Y",
            "published_on": "2017-03-02",
        }
    )


class SourcePatch(Strict):
    """A correction of a source: the fields to change (the slug never changes)."""

    model_config = examples({"published_on": "2017-03-02"})

    title: str | None = None
    publisher: str | None = None
    url: str | None = None
    published_on: dt.date | None = None
    notes: str | None = None


class MembershipCreate(MembershipIn):
    """An actor's membership of a coalition over `[from, to)`: `to` is the first day it is no longer a member
    (exclusive); leave `from` or `to` out for an open end. `source` is a source slug."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "actor": "liwa-fatemiyoun",
                    "from": "2015-01-01",
                    "role": "member",
                    "source": "rferl-miller-2017-is-collapsing",
                }
            ]
        },
    )


class MembershipPatch(Strict):
    """A correction of a membership: the fields to change, typically `to` to end it (exclusive)."""

    model_config = examples({"to": "2017-11-01"})

    from_: dt.date | None = Field(default=None, alias="from")
    to: dt.date | None = None
    role: MembershipRole | None = None
    note: str | None = None
    source: str | None = None


class CoalitionCreate(CoalitionIn):
    """A coalition, with its memberships if known (more can be added later under `/members`)."""

    model_config = examples(
        {
            "slug": "pro-government-militias",
            "name": "Pro-government militias",
            "color": "#8c564b",
            "members": [{"actor": "syrian-army", "from": "2011-03-15"}],
        }
    )

    members: list[MembershipIn] = Field(default=[], max_length=1000)


class CoalitionPatch(Strict):
    """A correction of a coalition: the fields to change (the slug never changes; members have their own
    endpoints)."""

    model_config = examples({"description": "Militias fighting for the Syrian government."})

    name: str | None = None
    description: str | None = None
    color: str | None = None
