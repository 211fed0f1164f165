"""The controlled vocabularies, in one place: pydantic validates them and the database CHECKs them."""

from __future__ import annotations

from typing import Literal, get_args

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
