"""Answers as the record stood at a past moment (`as_of`), from the event versions; and answers from the surer
events only (`confidence=`), derived at read time the same way.

Every read query names the tables (`place`, `actor`, `coalition_membership`, `control_event`, `control_period`...).
For an `as_of` answer the same query runs with common table expressions of those names in front: they shadow
the tables with the versions that were the record at :as_of (`<table>_version`, kept by the trigger
app/db/sql/record_versions.sql, and control_event_version), and the periods with those derived from the event
versions by the very function the live periods come from, and the place states (app/db/sql/derive_place_states.sql)
likewise. So a reconstructed answer follows the same rules and the same SQL as a live one, and a live read
never touches a version.

The reference tables' shadows are NOT MATERIALIZED: inlined, so a query's conditions (an id, a slug, a bbox)
reach the version table's indexes instead of a scan of every version first.
What it costs: no index serves the derived shadows, so the states and periods of the places asked about (those
a reference or a bbox names, or all of them) are made for each answer; but only the places whose record changed
after :as_of are derived from their versions, the others read as stored (places_recorded_since): an answer as of
a recent moment costs what changed since, not what it shows.

A read of one place (REFERENCED_PLACE) runs with its generic plan (app/db/reads.py, GENERIC_PLAN): PostgreSQL
planned it again at each run, ~10 ms for ~2 ms of work at 100,000 places (README, "Speed"). Reads of a bbox or
of every place keep their custom plans: a generic plan of the as_of z8 tile was slower (2.1 → 1.2 req/s).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from sqlalchemy import TextClause, text

from app.db.models import Base
from app.db.queries.filters import IN_BBOX
from app.db.queries.references import matching
from app.db.reads import GENERIC_PLAN

# The versioned reference tables, in an order where each shadow may name those before it.
VERSIONED = (
    "source",
    "actor",
    "coalition",
    "coalition_membership",
    "place",
    "place_name",
    "territory",
    "front_line",
)


def version_shadow(table: str) -> str:
    """The CTE standing for `table` as of :as_of: its rows' versions recorded then, under the table's columns
    (from the model, so a column added there is shadowed too)."""
    columns = ", ".join(
        f"v.{table}_id AS id" if column.name == "id" else f"v.{column.name}"
        for column in Base.metadata.tables[table].columns
    )
    return f"""{table} AS NOT MATERIALIZED (
        SELECT {columns} FROM public.{table}_version AS v
        WHERE v.recorded @> CAST(:as_of AS timestamptz) AND v.change <> 'deleted'
    )"""


REFERENCE_SHADOWS = ",\n    ".join(version_shadow(table) for table in VERSIONED)

# The places whose periods are derived: every place, those a reference may name, or those in the bbox.
ALL_PLACES = "NULL"
REFERENCED_PLACE = f"ARRAY(SELECT m.id FROM ({matching('place', ':ref', ':ref_id')}) AS m)"
PLACES_IN_BBOX = f"ARRAY(SELECT p.id FROM place AS p WHERE {IN_BBOX})"


# How sure an event is, as a rank (confirmed > reported > claimed), for `confidence=`: the events at least that sure.
SURE = "CASE {c} WHEN 'confirmed' THEN 3 WHEN 'reported' THEN 2 ELSE 1 END"
SURE_ENOUGH = f"{SURE.format(c='{e}.confidence')} >= {SURE.format(c='CAST(:confidence AS text)')}"


def shadow_tables(places: str, *, as_of: bool = True, confidence: bool = False) -> str:
    """The tables as they were at :as_of (from the versions) and/or as the events at least :confidence sure
    alone make them (only control_event, control_period and place_state differ then)."""
    # The versions of the places asked about only: every query joins events to those places' periods.
    of_places = "" if places == ALL_PLACES else f" AND v.place_id = ANY({places})"
    moment = "CAST(:as_of AS timestamptz)" if as_of else "NULL"
    sure_of = "CAST(:confidence AS text)" if confidence else "NULL"
    periods = f"""control_period AS (
        SELECT row_number() OVER () AS id, d.*
        FROM derive_control_periods({moment}, {places}, {sure_of}) AS d
    ), place_state AS (
        SELECT s.* FROM derive_place_states({moment}, {places}, {sure_of}) AS s
    )"""
    if not as_of:
        of_places_e = "" if places == ALL_PLACES else f" AND e.place_id = ANY({places})"
        return f"""
    control_event AS (
        SELECT e.* FROM public.control_event AS e WHERE {SURE_ENOUGH.format(e="e")}{of_places_e}
    ), {periods}"""
    sure = f" AND {SURE_ENOUGH.format(e='v')}" if confidence else ""
    return f"""
    {REFERENCE_SHADOWS},
    control_event AS (
        SELECT v.control_event_id AS id, v.external_id, v.place_id, v.occurred_on, v.precision, v.seq, v.kind,
               v.actor_id, v.losing_actor_id, v.status, v.party_ids, v.confidence, v.notes,
               lower(v.recorded) AS recorded_at, NULL::timestamptz AS retracted_at, v.source_ids
        FROM control_event_version AS v
        WHERE v.recorded @> CAST(:as_of AS timestamptz) AND v.change <> 'retracted'{of_places}{sure}
    ), control_event_source AS (
        SELECT e.id AS control_event_id, unnest(e.source_ids) AS source_id FROM control_event AS e
    ), {periods}"""


def at_moment(
    sql: str, as_of: datetime | None, places: str = ALL_PLACES, confidence: str | None = None
) -> TextClause:
    """The query as the record stands, or as it stood at `as_of` (periods derived for `places` only), from the
    events at least `confidence` sure when given (derived at read time too)."""
    if as_of is None and confidence is None:
        return live_sql(sql)
    return as_of_sql(sql, places, as_of=as_of is not None, confidence=confidence is not None)


# A statement is built once per shape of filters, not per request.
live_sql = lru_cache(maxsize=512)(text)


@lru_cache(maxsize=256)
def as_of_sql(
    sql: str, places: str = ALL_PLACES, *, as_of: bool = True, confidence: bool = False
) -> TextClause:
    """The same query, answering from the record as it stood at :as_of and/or from the events at least
    :confidence sure."""
    shadows = shadow_tables(places, as_of=as_of, confidence=confidence)
    stripped = sql.lstrip()
    if stripped[:5].upper() == "WITH ":
        statement = text(f"WITH {shadows},\n{stripped[5:]}")
    else:
        statement = text(f"WITH {shadows}\n{stripped}")
    return statement.execution_options(**{GENERIC_PLAN: True}) if places == REFERENCED_PLACE else statement


def statement_at(statement: TextClause, as_of: datetime | None, places: str = ALL_PLACES) -> TextClause:
    """A prepared statement as it is (live), or its as-of twin."""
    return statement if as_of is None else as_of_sql(statement.text, places)
