"""The controlled vocabularies, in one place: pydantic validates them and the database CHECKs them."""

from __future__ import annotations

from datetime import date
from typing import Literal, get_args

# Bounds the database sets. Spellings are indexed (a btree entry holds about 2.7 kB: 500 characters of any
# script fit). A reference (an id, slug or spelling) longer than any spelling names nothing: it is refused, or
# answered without suggestions, before any search.
MAX_NAME = 500
MAX_REFERENCE = MAX_NAME
# Dates: the driver reads date.min and date.max as PostgreSQL's -infinity and infinity, and the day after the
# last one has no date, so the two extremes are refused rather than stored or answered as infinities.
FIRST_DATE, LAST_DATE = date(1, 1, 2), date(9999, 12, 30)

ActorKind = Literal[
    "state_army", "armed_group", "militia", "private_military_company", "air_coalition", "special_forces",
    "rebel_alliance", "foreign_army",
]  # fmt: skip
PlaceKind = Literal[
    "city", "town", "village", "airbase", "oilfield", "district", "border_crossing", "military_base",
]  # fmt: skip
EventKind = Literal[
    "captured", "recaptured", "liberated", "withdrawn", "besieged", "siege_broken", "contested", "held",
]  # fmt: skip
Status = Literal["controlled", "contested", "besieged"]
Precision = Literal["day", "month", "year"]
Confidence = Literal["confirmed", "reported", "claimed"]
MembershipRole = Literal["member", "supporter"]
Scope = Literal["read", "ingest", "admin"]
VersionChange = Literal["created", "corrected", "retracted"]
EventFileFormat = Literal["csv", "jsonl", "geojson"]  # what `territory ingest` reads


def values(vocabulary: object) -> tuple[str, ...]:
    return get_args(vocabulary)
