"""Actors, coalitions and memberships: what their endpoints accept."""

from __future__ import annotations

import datetime as dt
from datetime import date

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from app.schemas.common import (
    Day,
    Name,
    Read,
    Ref,
    Reference,
    Slug,
    SourceReference,
    Strict,
    Warning,
    examples,
)
from app.schemas.sources import SourceBrief
from app.vocabulary import ActorKind, MembershipRole


class ActorIn(Strict):
    slug: str = Slug
    name: Name
    aliases: list[Name] = []
    kind: ActorKind
    parent: Reference | None = None
    color: str = Field(default="#808080", pattern=r"^#[0-9a-fA-F]{6}$")
    notes: str | None = None


class MembershipIn(Strict):
    actor: Reference
    from_: Day | None = Field(default=None, alias="from")
    to: Day | None = None  # exclusive; None = open
    role: MembershipRole = "member"
    note: str | None = None
    source: SourceReference | None = None

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
    name: Name
    description: str | None = None
    color: str = Field(default="#808080", pattern=r"^#[0-9a-fA-F]{6}$")
    members: list[MembershipIn] = []


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


class ActorRead(Read):
    slug: str
    name: str
    kind: ActorKind
    aliases: list[str]
    color: str
    parent: Ref | None


class Membership(Read):
    """A membership over `[from, to)`: `to` is the first day it no longer holds (null: open)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: int
    from_: date | None = Field(alias="from")
    to: date | None
    role: MembershipRole
    note: str | None
    source: SourceBrief | None


class ActorMembership(Membership):
    coalition: Ref


class ActorDetail(ActorRead):
    notes: str | None
    memberships: list[ActorMembership]


class ActorWritten(ActorDetail):
    warnings: list[Warning]


class CoalitionRead(Read):
    slug: str
    name: str
    description: str | None
    color: str
    members: int = Field(description="How many actors have ever been members")


class CoalitionMember(Membership):
    actor: Ref


class CoalitionDetail(Read):
    slug: str
    name: str
    description: str | None
    color: str
    at: date | None = Field(description="The date the members are listed for; null: every membership")
    members: list[CoalitionMember]


class MembershipRead(Membership):
    coalition: Ref
    actor: Ref
