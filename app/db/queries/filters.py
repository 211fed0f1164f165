"""What a read is asked: typed filters the query functions take, whichever HTTP surface parsed them.

`/v1` builds them from its query parameters (app/api/filters.py); another surface (OGC API Features: `datetime`,
`bbox`, `limit`, CQL2) builds the same objects from its own names and calls the same functions, so the SQL is
written once. Actors and coalitions are references (slug, name, alias): the query resolves them in its own
statement (app/db/queries/references.py) and answers 404 with suggestions for one that names nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

# The SQL of the filters shared by the queries over many places (`p` is the place).
IN_BBOX = "p.geom && ST_MakeEnvelope(:west, :south, :east, :north, 4326)"
OF_KINDS = "p.kind = ANY(:kinds)"
# The same conditions on a place_state row `cp`, which carries its place's point and kind.
STATE_IN_BBOX = "cp.geom && ST_MakeEnvelope(:west, :south, :east, :north, 4326)"
STATE_OF_KINDS = "cp.kind = ANY(:kinds)"


@dataclass(frozen=True)
class BBox:
    """West, south, east, north in degrees (EPSG:4326), west < east and south < north."""

    west: float
    south: float
    east: float
    north: float

    def params(self) -> dict[str, float]:
        return {"west": self.west, "south": self.south, "east": self.east, "north": self.north}


@dataclass(frozen=True)
class Point:
    lon: float
    lat: float


@dataclass(frozen=True)
class Page:
    """A keyset page: at most `limit` items after the item whose sort key is `after` (None: the first page).

    `link` turns the sort key of a page's last item into the URL of the next page: each surface names its
    cursor its own way, the query only hands it the key."""

    limit: int
    link: Callable[[list[Any]], str]
    after: list[Any] | None = None


@dataclass(frozen=True)
class ControlFilter:
    """Places and their state on `at` (the control map): within `bbox`, held by `actor` or a member of
    `coalition` on that date, of `kinds`; as the record stood at `as_of` when given."""

    at: date
    bbox: BBox | None = None
    actor: str | None = None
    coalition: str | None = None
    kinds: tuple[str, ...] | None = None
    as_of: datetime | None = None
    # The least sure events to answer from ('confirmed', 'reported'); None: every event.
    confidence: str | None = None


@dataclass(frozen=True)
class ChangesFilter:
    """Places whose holder, status or parties differ between `start` and `end` (inclusive dates)."""

    start: date
    end: date
    bbox: BBox | None = None
    actor: str | None = None
    as_of: datetime | None = None
    confidence: str | None = None


@dataclass(frozen=True)
class DisputesFilter:
    """Places with rival claims on a day between `start` and `end` (inclusive), from the events at least
    `confidence` sure."""

    start: date
    end: date
    bbox: BBox | None = None
    confidence: str | None = None


@dataclass(frozen=True)
class PlaceSearch:
    """Places by any spelling (`q`, ranked by similarity), near a point, in a bbox, of kinds."""

    q: str | None = None
    near: Point | None = None
    radius_km: float = 50
    bbox: BBox | None = None
    kinds: tuple[str, ...] | None = None
    review: bool | None = None  # True: only the places awaiting review (the gazetteer's); False: the others


@dataclass(frozen=True)
class AreaFilter:
    """Territories in force on `at`: within `bbox` (clipped to it), of `actor` or `coalition` members,
    simplified to `tolerance` degrees when given; as the record stood at `as_of` when given."""

    at: date
    bbox: BBox | None = None
    actor: str | None = None
    coalition: str | None = None
    tolerance: float | None = None
    as_of: datetime | None = None
