"""The request's query string as the read layer's typed filters: each dependency parses one kind of request
(through app/api/params.py, the one place a value is parsed) and gives a route the object it hands on."""

# No `from __future__ import annotations`: FastAPI reads these signatures at run time. The dependencies are
# `async def` although they await nothing: FastAPI runs a plain `def` dependency in a worker thread, a thread
# hop per dependency per request on the hot reads.

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from app.api.params import (
    DATE,
    TWO_NUMBERS,
    AsOfQuery,
    BboxQuery,
    ConfidenceQuery,
    CursorQuery,
    DateQuery,
    KindQuery,
    decode_cursor,
    encode_cursor,
    parse_as_of,
    parse_bbox,
    parse_confidence,
    parse_date,
    parse_date_range,
    parse_kinds,
    parse_point,
)
from app.db.queries.filters import (
    AreaFilter,
    ChangesFilter,
    ControlFilter,
    DisputesFilter,
    Page,
    PlaceSearch,
    Point,
)
from app.db.queries.territory import tolerance_for_zoom
from app.errors import InvalidParameter

ActorQuery = Annotated[
    str | None,
    Query(description="Actor: slug, name or alias", openapi_examples={"IS": {"value": "islamic-state"}}),
]
CoalitionQuery = Annotated[
    str | None,
    Query(
        description="Coalition (slug or name): what its members held on the date",
        openapi_examples={"pro-Assad": {"value": "pro-assad-coalition"}},
    ),
]
# Both ends of an interval are required (a missing one is a 400 problem naming it).
FromQuery = Annotated[
    str,
    DATE,
    Query(alias="from", description="YYYY-MM-DD", openapi_examples={"Dec 2016": {"value": "2016-12-01"}}),
]
ToQuery = Annotated[
    str, DATE, Query(description="YYYY-MM-DD", openapi_examples={"Jan 2017": {"value": "2017-01-31"}})
]


def link_to_next(request: Request) -> Callable[[list[Any]], str]:
    """The next page's URL: this request's, with `cursor` set to the key of the page's last item."""
    return lambda key: str(request.url.include_query_params(cursor=encode_cursor(key)))


def page_of(*, default: int, most: int, items: str, key: tuple[type, ...]) -> Any:
    """The dependency giving a route's `Page`: `limit` (1..most) and the `cursor` of a previous `next` link,
    whose key has parts of the types in `key`."""

    async def page(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=most, description=f"{items} per page")] = default,
        cursor: CursorQuery = None,
    ) -> Page:
        return Page(limit=limit, link=link_to_next(request), after=decode_cursor(cursor, *key))

    return Depends(page)


async def on_date(at: DateQuery = None) -> date:
    """`at`, a calendar date; today when not given."""
    return parse_date("at", at, default=date.today())


async def as_of_moment(as_of: AsOfQuery = None) -> datetime | None:
    """`as_of`: answer as the record stood then (None: as it stands)."""
    return parse_as_of(as_of)


async def least_confidence(confidence: ConfidenceQuery = None) -> str | None:
    """`confidence`: the least sure events to answer from (None: every event)."""
    return parse_confidence(confidence)


OnDate = Annotated[date, Depends(on_date)]
AsOf = Annotated[datetime | None, Depends(as_of_moment)]
LeastConfidence = Annotated[str | None, Depends(least_confidence)]


@dataclass(frozen=True)
class Moment:
    """What a read of a date is about: the date `at`, as the record stood at `as_of` (None: as it stands), from
    the events at least `confidence` sure (None: every event)."""

    at: date
    as_of: datetime | None
    confidence: str | None


async def moment(at: DateQuery = None, as_of: AsOfQuery = None, confidence: ConfidenceQuery = None) -> Moment:
    """`at` (today when not given), `as_of` and `confidence` in one dependency, parsed as OnDate, AsOf and
    LeastConfidence parse them: FastAPI's solving of a dependency costs ~20 µs a request, and the hot reads
    take all three (README, "The per-request overhead of hot reads")."""
    return Moment(
        parse_date("at", at, default=date.today()), parse_as_of(as_of), parse_confidence(confidence)
    )


AtMoment = Annotated[Moment, Depends(moment)]


async def control_filter(
    when: AtMoment,
    bbox: BboxQuery = None,
    actor: ActorQuery = None,
    coalition: CoalitionQuery = None,
    kind: KindQuery = None,
) -> ControlFilter:
    return ControlFilter(
        at=when.at,
        bbox=parse_bbox(bbox),
        actor=actor,
        coalition=coalition,
        kinds=parse_kinds(kind),
        as_of=when.as_of,
        confidence=when.confidence,
    )


async def changes_filter(
    as_of: AsOf,
    confidence: LeastConfidence,
    start: FromQuery,
    to: ToQuery,
    bbox: BboxQuery = None,
    actor: ActorQuery = None,
) -> ChangesFilter:
    first, last = parse_date_range(start, to)
    return ChangesFilter(
        start=first, end=last, bbox=parse_bbox(bbox), actor=actor, as_of=as_of, confidence=confidence
    )


async def disputes_filter(
    confidence: LeastConfidence, start: FromQuery, to: ToQuery, bbox: BboxQuery = None
) -> DisputesFilter:
    first, last = parse_date_range(start, to)
    return DisputesFilter(start=first, end=last, bbox=parse_bbox(bbox), confidence=confidence)


async def place_search(
    q: Annotated[
        str | None,
        Query(
            description="Any spelling, its start, or one letter off; the similar ones when none is close",
            openapi_examples={"typo": {"value": "Dayr az Zor"}},
        ),
    ] = None,
    near: Annotated[
        str | None,
        TWO_NUMBERS,
        Query(description="LON,LAT: places within radius_km of this point, nearest first"),
    ] = None,
    radius_km: Annotated[float, Query(gt=0, le=2000, description="Radius around `near`, in km")] = 50,
    bbox: BboxQuery = None,
    kind: KindQuery = None,
    review: Annotated[
        bool | None,
        Query(
            description="true: only the places awaiting review (created by the gazetteer); false: the others"
        ),
    ] = None,
) -> PlaceSearch:
    if q is not None and not q.strip():
        raise InvalidParameter("q", "must not be empty")
    point = parse_point("near", near)
    return PlaceSearch(
        q=q,
        near=Point(*point) if point else None,
        radius_km=radius_km,
        bbox=parse_bbox(bbox),
        kinds=parse_kinds(kind),
        review=review,
    )


async def area_filter(
    at: OnDate,
    as_of: AsOf,
    actor: ActorQuery = None,
    coalition: CoalitionQuery = None,
    bbox: BboxQuery = None,
    simplify: Annotated[
        float | None,
        Query(
            ge=0,
            le=1,
            description="Simplification tolerance in degrees (ST_SimplifyPreserveTopology); 0 = full detail",
            openapi_examples={"~1 km": {"value": 0.01}},
        ),
    ] = None,
    zoom: Annotated[
        int | None,
        Query(
            ge=0,
            le=22,
            description="Map zoom the answer is drawn at: the tolerance becomes one pixel of a 256-px tile "
            "(360° / 2^zoom / 256). Ignored when `simplify` is given.",
            openapi_examples={"region": {"value": 8}},
        ),
    ] = None,
) -> AreaFilter:
    tolerance = simplify if simplify is not None else (tolerance_for_zoom(zoom) if zoom is not None else None)
    return AreaFilter(
        at=at, bbox=parse_bbox(bbox), actor=actor, coalition=coalition, tolerance=tolerance, as_of=as_of
    )


ControlQuery = Annotated[ControlFilter, Depends(control_filter)]
ChangesQuery = Annotated[ChangesFilter, Depends(changes_filter)]
ChangesPage = Annotated[Page, page_of(default=500, most=5000, items="Places", key=(int,))]
DisputesQuery = Annotated[DisputesFilter, Depends(disputes_filter)]
DisputesPage = Annotated[Page, page_of(default=500, most=5000, items="Disputed periods", key=(int, int))]
PlaceSearchQuery = Annotated[PlaceSearch, Depends(place_search)]
PlacesPage = Annotated[Page, page_of(default=50, most=500, items="Items", key=(float, int))]
HistoryPage = Annotated[Page, page_of(default=100, most=1000, items="Versions", key=(int,))]
AreaQuery = Annotated[AreaFilter, Depends(area_filter)]
