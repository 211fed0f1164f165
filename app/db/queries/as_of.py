"""Answers as the record stood at a past moment (`as_of`), from the event versions; and answers from the surer
events only (`confidence=`), derived at read time the same way.

Every read query names the tables `control_event`, `control_event_source`, `control_period` (and `territory`). For an `as_of`
answer the same query runs with common table expressions of those names in front: they shadow the tables with
the versions that were the record at :as_of, and with the periods derived from them by the very function the
live periods come from. So a reconstructed answer follows the same rules and the same SQL as a live one.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from sqlalchemy import TextClause, text

from app.db.queries.filters import IN_BBOX
from app.db.queries.references import matching

# The places whose periods are derived: every place, those a reference may name, or those in the bbox.
ALL_PLACES = "NULL"
REFERENCED_PLACE = f"ARRAY(SELECT m.id FROM ({matching('place', ':ref', ':ref_id')}) AS m)"
PLACES_IN_BBOX = f"ARRAY(SELECT p.id FROM place AS p WHERE {IN_BBOX})"


# How sure an event is, as a rank (confirmed > reported > claimed), for `confidence=`: the events at least that sure.
SURE = "CASE {c} WHEN 'confirmed' THEN 3 WHEN 'reported' THEN 2 ELSE 1 END"
SURE_ENOUGH = f"{SURE.format(c='{e}.confidence')} >= {SURE.format(c='CAST(:confidence AS text)')}"


def shadow_tables(places: str, *, as_of: bool = True, confidence: bool = False) -> str:
    """The tables as they were at :as_of (from the versions) and/or as the events at least :confidence sure
    alone make them (only control_event and control_period differ then)."""
    # The versions of the places asked about only: every query joins events to those places' periods.
    of_places = "" if places == ALL_PLACES else f" AND v.place_id = ANY({places})"
    periods = f"""control_period AS (
        SELECT row_number() OVER () AS id, d.*
        FROM derive_control_periods({"CAST(:as_of AS timestamptz)" if as_of else "NULL"}, {places},
                                    {"CAST(:confidence AS text)" if confidence else "NULL"}) AS d
    )"""
    if not as_of:
        of_places_e = "" if places == ALL_PLACES else f" AND e.place_id = ANY({places})"
        return f"""
    control_event AS (
        SELECT e.* FROM public.control_event AS e WHERE {SURE_ENOUGH.format(e="e")}{of_places_e}
    ), {periods}"""
    sure = f" AND {SURE_ENOUGH.format(e='v')}" if confidence else ""
    return f"""
    control_event AS (
        SELECT v.control_event_id AS id, v.external_id, v.place_id, v.occurred_on, v.precision, v.seq, v.kind,
               v.actor_id, v.losing_actor_id, v.status, v.party_ids, v.confidence, v.notes,
               lower(v.recorded) AS recorded_at, NULL::timestamptz AS retracted_at, v.source_ids
        FROM control_event_version AS v
        WHERE v.recorded @> CAST(:as_of AS timestamptz) AND v.change <> 'retracted'{of_places}{sure}
    ), control_event_source AS (
        SELECT e.id AS control_event_id, unnest(e.source_ids) AS source_id FROM control_event AS e
    ), {periods}, territory AS (
        -- Territories keep no versions: as of a moment, those recorded by then, as they stand now.
        SELECT t.* FROM public.territory AS t WHERE t.recorded_at <= CAST(:as_of AS timestamptz)
    )"""


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
        return text(f"WITH {shadows},\n{stripped[5:]}")
    return text(f"WITH {shadows}\n{stripped}")
