"""Query parameters parsed with messages a person can act on (the problem body names the parameter)."""

from __future__ import annotations

import base64
import binascii
import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

import orjson
from fastapi import Query
from pydantic import WithJsonSchema

from app.db.queries.filters import BBox
from app.db.queries.replication import lsn
from app.errors import InvalidParameter
from app.vocabulary import FIRST_DATE, LAST_DATE, Confidence, PlaceKind, values

# Dates the API takes (app/schemas/common.py says why these).
OUT_OF_RANGE = f"is outside the dates this API takes ({FIRST_DATE.isoformat()} to {LAST_DATE.isoformat()})"

# What the OpenAPI document shows for a parameter. The value still arrives as text and is parsed below (the one
# place that parses it), so a bad one is a 400 problem naming the parameter, not FastAPI's 422.
DATE = WithJsonSchema({"type": "string", "format": "date"})
MOMENT = WithJsonSchema(
    {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}
)
# Arrays in a query string are comma-separated (the OpenAPI document says style=form, explode=false).
FOUR_NUMBERS = WithJsonSchema({"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4})
TWO_NUMBERS = WithJsonSchema({"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2})


def one_of(vocabulary: object) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "enum": list(values(vocabulary))})


def list_of(vocabulary: object) -> WithJsonSchema:
    return WithJsonSchema({"type": "array", "items": {"type": "string", "enum": list(values(vocabulary))}})


DateQuery = Annotated[
    str | None,
    DATE,
    Query(
        description="A calendar date, YYYY-MM-DD.",
        openapi_examples={"Palmyra falls": {"value": "2016-12-11"}},
    ),
]
AsOfQuery = Annotated[
    str | None,
    MOMENT,
    Query(
        description="Answer as the record stood at this moment (ISO 8601; a bare date means the end of that day, "
        "UTC): corrections and retractions recorded later are not seen.",
        openapi_examples={"what we knew then": {"value": "2016-12-15"}},
    ),
]
BboxQuery = Annotated[
    str | None,
    FOUR_NUMBERS,
    Query(
        description="West,South,East,North in degrees (EPSG:4326).",
        openapi_examples={"northern Syria": {"value": [36.5, 35.5, 39.5, 37.0]}},
    ),
]
KindQuery = Annotated[
    str | None,
    list_of(PlaceKind),
    Query(
        description="Place kinds, comma-separated", openapi_examples={"towns": {"value": ["city", "town"]}}
    ),
]
CursorQuery = Annotated[str | None, Query(description="From the `next` link of the previous page")]
ConfidenceQuery = Annotated[
    str | None,
    one_of(Confidence),
    Query(
        description="Answer from the events at least this sure only: `confirmed` (what a cautious analyst "
        "wants), `reported` (confirmed or reported); `claimed`, the default, is every event. The periods are "
        "then derived at read time from those events, as for `as_of`: slower than the stored ones, most of all "
        "for the whole map.",
        openapi_examples={"cautious": {"value": "confirmed"}},
    ),
]


def parse_date(name: str, value: str | None, *, default: date | None = None, location: str = "query") -> date:
    if value is None or value == "":
        if default is None:
            raise InvalidParameter(name, "is required (YYYY-MM-DD)", location=location)
        return default
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidParameter(
            name, f"'{value}' is not a calendar date in the form YYYY-MM-DD", location=location
        ) from None
    if not FIRST_DATE <= day <= LAST_DATE:
        raise InvalidParameter(name, OUT_OF_RANGE, location=location)
    return day


def parse_as_of(value: str | None) -> datetime | None:
    """A moment of the record: a timestamp (UTC when no offset is given), or a date meaning its last instant."""
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            if not FIRST_DATE <= day <= LAST_DATE:
                raise InvalidParameter("as_of", OUT_OF_RANGE)
            return datetime.combine(day + timedelta(days=1), time(), UTC) - timedelta(microseconds=1)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidParameter(
            "as_of",
            f"'{value}' is not an ISO 8601 date or timestamp (e.g. 2016-12-15 or 2016-12-15T18:00:00Z)",
        ) from None
    try:
        moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:  # an offset that moves it past year 9999
        raise InvalidParameter("as_of", OUT_OF_RANGE) from None
    if not FIRST_DATE <= moment.date() <= LAST_DATE:
        raise InvalidParameter("as_of", OUT_OF_RANGE)
    return moment


def parse_confidence(value: str | None) -> str | None:
    """The least sure events to answer from; None for every event (`claimed`, the least sure, included)."""
    if value is None or value == "" or value == "claimed":
        return None
    if value not in values(Confidence):
        raise InvalidParameter("confidence", f"'{value}' is not one of {', '.join(values(Confidence))}")
    return value


def parse_date_range(start: str | None, end: str | None) -> tuple[date, date]:
    first, last = parse_date("from", start), parse_date("to", end)
    if first > last:
        raise InvalidParameter("from", f"{first} is after to ({last})")
    return first, last


def parse_bbox(value: str | None) -> BBox | None:
    if value is None or value == "":
        return None
    parts = value.split(",")
    if len(parts) != 4:
        raise InvalidParameter("bbox", f"'{value}' must be four numbers: west,south,east,north")
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise InvalidParameter("bbox", f"'{value}' must be four numbers: west,south,east,north") from None
    for label, number, limit in (
        ("west", west, 180),
        ("east", east, 180),
        ("south", south, 90),
        ("north", north, 90),
    ):
        if not -limit <= number <= limit:
            raise InvalidParameter("bbox", f"{label} ({number}) is outside -{limit}..{limit}")
    if west >= east:
        raise InvalidParameter("bbox", f"west ({west}) must be less than east ({east})")
    if south >= north:
        raise InvalidParameter("bbox", f"south ({south}) must be less than north ({north})")
    return BBox(west, south, east, north)


def parse_point(name: str, value: str | None) -> tuple[float, float] | None:
    if value is None or value == "":
        return None
    try:
        lon, lat = (float(p) for p in value.split(","))
    except ValueError:
        raise InvalidParameter(name, f"'{value}' must be LON,LAT in degrees") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidParameter(name, f"'{value}' is outside -180..180, -90..90 (LON,LAT)")
    return lon, lat


def parse_list(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_kinds(value: str | None) -> tuple[str, ...] | None:
    """Place kinds, comma-separated; each must be one of the vocabulary's."""
    kinds = parse_list(value)
    if kinds is None:
        return None
    known = values(PlaceKind)
    for kind in kinds:
        if kind not in known:
            raise InvalidParameter("kind", f"'{kind}' is not a place kind ({', '.join(known)})")
    return tuple(kinds)


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


def decode_cursor(value: str | None, *shape: type) -> list[Any] | None:
    """A keyset cursor: the sort key of the last item seen, its parts of the types in `shape` (an int within
    bigint, a finite float, a short str). Opaque to clients: anything else is a 400, never a bad query."""
    if not value:
        return None
    try:
        key = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InvalidParameter("cursor", "is not a cursor this API gave out") from None
    if not (isinstance(key, list) and len(key) == len(shape) and all(map(_fits, key, shape))):
        raise InvalidParameter("cursor", "is not a cursor this API gave out")
    return key


def _fits(part: Any, kind: type) -> bool:
    if kind is int:
        return type(part) is int and -(2**63) <= part < 2**63
    if kind is float:
        return type(part) in (int, float) and math.isfinite(part) and abs(part) < 2**63
    return type(part) is str and len(part) <= 100


def parse_position(name: str, value: str | None, *, location: str = "query") -> int | None:
    """A position of the events feed: a non-negative integer from a previous answer (0: the beginning)."""
    if value is None or value == "":
        return None
    value = value.strip()
    if not (value.isascii() and value.isdigit()) or int(value) > 2**63 - 1:
        raise InvalidParameter(
            name, f"'{value}' is not a position (an integer from a previous answer)", location=location
        )
    return int(value)


def parse_since(value: str | None) -> tuple[int | None, datetime | None]:
    """`since`: a position (an integer), or an ISO 8601 timestamp (UTC when it names no zone)."""
    if value is None or value == "":
        return None, None
    if value.strip().isdigit():
        return parse_position("since", value), None
    text = value.strip()
    # A '+' left unencoded in a query string arrives as a space (but a space may also separate date and time).
    for candidate in (text, text.replace(" ", "+")):
        try:
            moment = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return None, moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise InvalidParameter(
        "since",
        f"'{value}' is neither a position (an integer from a previous answer) nor an ISO 8601 timestamp",
    )


def parse_wal_position(name: str, value: str | None, *, location: str = "header") -> int | None:
    """A WAL position as a write's answer gave it (`0/3000148`), as a number; None when not given."""
    if value is None or not value.strip():
        return None
    try:
        return lsn(value.strip())
    except ValueError:
        raise InvalidParameter(
            name,
            "is not a position a write's answer gave out (two hexadecimal numbers: 0/3000148)",
            location=location,
        ) from None
