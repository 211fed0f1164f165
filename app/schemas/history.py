"""Versions of the reference resources: a resource's `/history` page (the events feed shows the same items)."""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 (pydantic reads the annotation at run time)
from typing import Any, Literal

from pydantic import Field

from app.schemas.common import Read

ResourceKind = Literal[
    "source", "actor", "coalition", "coalition_membership", "place", "place_name", "territory", "front_line"
]


class RecordVersion(Read):
    """One version of a row: what it said, and when it was the record ([recorded_from, recorded_until))."""

    resource: ResourceKind = Field(description="The table the row is in")
    id: int = Field(description="The row's id in that table")
    version: int
    change: Literal["created", "corrected", "deleted"]
    recorded_from: datetime | None = Field(
        description="When it became the record; null for a row that stood before history was kept"
    )
    recorded_until: datetime | None = Field(
        description="When a later version replaced it; null = still the record"
    )
    position: int | None = Field(description="Its position in the events feed (null until its write commits)")
    data: dict[str, Any] = Field(description="The row's columns as they were (geometry as GeoJSON)")


class ResourceHistory(Read):
    """A page of a resource's versions and of the rows that describe it (a place's spellings, a coalition's
    memberships...), oldest first."""

    resource: ResourceKind
    id: int
    slug: str | None = None
    external_id: str | None = None
    versions: list[RecordVersion]
    next: str | None
