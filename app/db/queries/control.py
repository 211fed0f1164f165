"""Who held a place on a date: the control period containing the date, with its event and sources, as JSON
built by PostgreSQL. The place reference is resolved in the same statement: one round trip per request."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import date, datetime

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries.as_of import ALL_PLACES, PLACES_IN_BBOX, REFERENCED_PLACE, at_moment
from app.db.queries.filters import (
    IN_BBOX,
    STATE_IN_BBOX,
    STATE_OF_KINDS,
    ChangesFilter,
    ControlFilter,
    Page,
)
from app.db.queries.pages import page_body, page_chunks
from app.db.queries.places import one_place_json
from app.db.queries.references import (
    RESOLVED_PLACES_CTE,
    Kind,
    filter_kinds,
    refuse_unmatched,
    resolving_filters,
    resolving_filters_rows,
    wanted,
)
from app.db.queries.streams import Batches, primed, stream

ACTOR_REF = "json_build_object('slug', {a}.slug, 'name', {a}.name)"

# Sources of an event, in the order they were linked.
EVENT_SOURCES = """
    coalesce((SELECT json_agg(json_build_object('slug', s.slug, 'title', s.title, 'publisher', s.publisher,
                                                'url', s.url, 'published_on', s.published_on) ORDER BY s.id)
              FROM control_event_source AS es JOIN source AS s ON s.id = es.source_id
              WHERE es.control_event_id = e.id), '[]'::json)
"""

# Coalitions an actor belonged to on :at.
ACTOR_COALITIONS = """
    coalesce((SELECT json_agg(json_build_object('slug', c.slug, 'name', c.name) ORDER BY c.slug)
              FROM coalition_membership AS m JOIN coalition AS c ON c.id = m.coalition_id
              WHERE m.actor_id = {actor_id} AND m.valid @> CAST(:at AS date)), '[]'::json)
"""

PERIOD_PARTIES = """
    coalesce((SELECT json_agg(json_build_object('slug', x.slug, 'name', x.name) ORDER BY x.slug)
              FROM actor AS x WHERE x.id = ANY(cp.party_ids)), '[]'::json)
"""


# The rival claims of a period `{p}` (its rival_event_ids: other sources' events giving its days another state,
# app/db/sql/derive_control_periods.sql), each with its holder, confidence and sources. Looked up only for a
# disputed period, so an undisputed answer costs nothing more.
ALTERNATIVES = (
    """CASE WHEN {p}.disputed THEN (
    SELECT json_agg(json_build_object(
        'status', e.status,
        'controller', (SELECT json_build_object('slug', x.slug, 'name', x.name) FROM actor AS x WHERE x.id = e.actor_id),
        'parties', coalesce((SELECT json_agg(json_build_object('slug', x.slug, 'name', x.name) ORDER BY x.slug)
                             FROM actor AS x WHERE x.id = ANY(e.party_ids)), '[]'::json),
        'confidence', e.confidence, 'event_id', e.id, 'external_id', e.external_id, 'date', e.occurred_on,
        'sources', """
    + EVENT_SOURCES.strip()
    + """) ORDER BY e.occurred_on, e.id)
    FROM control_event AS e WHERE e.id = ANY({p}.rival_event_ids)) ELSE '[]'::json END"""
)
DISPUTED = "coalesce({p}.disputed, false)"


def period_at(alias: str, at: str = ":at") -> str:
    """Join the place's state at a date: its place_state row covering the date (a probe of the GiST index of
    excl_place_state_overlap). Every place has one on every date: the control period in force, or a stretch no
    period covers, whose status, holder, parties and event are NULL as if there were no row."""
    return f"""
    LEFT JOIN place_state AS {alias} ON {alias}.place_id = p.id AND {alias}.valid @> CAST({at} AS date)
"""


PERIOD_AT = period_at("cp")

# Every place's state on :at, one row each (`cp`, with the place's point, slug, name and kind): driven by the
# state rows, a box is one scan of ix_place_state_geom_valid rather than one probe per place in it.
STATES_AT = "place_state AS cp"
STATE_ON_DATE = "cp.valid @> CAST(:at AS date)"

# The parties of a contested or besieged place (between whom); only those have any, so the lookup runs for them.
MAP_PARTIES = f"""CASE WHEN cardinality(cp.party_ids) > 0 THEN {PERIOD_PARTIES.strip()} ELSE '[]'::json END"""

# A place no control period covers on :at, inside a territory in force then: the territory's actor held it.
# Which territory (of two covering it, an exact one over an approximate one, then the latest) is kept in the
# state row (app/db/sql/derive_place_states.sql), so this is a join by key: no ring is read per place.
TERRITORY_AT = """
    LEFT JOIN territory AS tr ON tr.id = cp.territory_id
"""

# What the answer rests on: a control period (event), else a territory, else nothing known (null).
BASIS = "CASE WHEN cp.control_event_id IS NOT NULL THEN 'event' WHEN tr.id IS NOT NULL THEN 'territory' END"
# The stretch the answer holds over: the period's, else the territory's (an unknown stretch is neither).
STATE_VALID = "CASE WHEN cp.control_event_id IS NOT NULL THEN cp.valid ELSE tr.valid END"
STATUS = "coalesce(cp.status, CASE WHEN tr.id IS NOT NULL THEN 'controlled' END, 'unknown')"
HOLDER_ID = "coalesce(cp.actor_id, tr.actor_id)"

TERRITORY_JSON = """CASE WHEN tr.id IS NOT NULL THEN json_build_object(
    'id', tr.id, 'external_id', tr.external_id, 'valid_from', lower(tr.valid), 'valid_to', upper(tr.valid),
    'approximate', tr.approximate,
    'source', (SELECT json_build_object('slug', s.slug, 'title', s.title, 'publisher', s.publisher, 'url', s.url,
                                        'published_on', s.published_on)
               FROM source AS s WHERE s.id = tr.source_id)) END"""

# How sure the answer is: an approximate territory, a claim not confirmed (the resolved one: the period's), or a
# date inside a coarse event's uncertainty window, is possible; anything else known is definite (null: nothing
# known). The window's end is kept with the state.
CERTAINTY = """CASE
    WHEN cp.control_event_id IS NULL THEN CASE WHEN tr.approximate THEN 'possible' WHEN tr.id IS NOT NULL THEN 'definite' END
    WHEN cp.confidence <> 'confirmed' THEN 'possible'
    WHEN CAST(:at AS date) < cp.uncertain_until THEN 'possible'
    ELSE 'definite' END"""

CONTROL_BODY = f"""
    json_build_object(
        'place', json_build_object('id', p.id, 'slug', p.slug, 'name', p.name),
        'at', CAST(:at AS date),
        'basis', {BASIS},
        'status', {STATUS},
        'controller', CASE WHEN a.id IS NOT NULL THEN {ACTOR_REF.format(a="a")} END,
        'coalitions', {ACTOR_COALITIONS.format(actor_id=HOLDER_ID)},
        'since', lower({STATE_VALID}),
        'until', upper({STATE_VALID}),
        'parties', {PERIOD_PARTIES},
        'certainty', {CERTAINTY},
        'disputed', {DISPUTED.format(p="cp")},
        'alternatives', {ALTERNATIVES.format(p="cp")},
        'event', CASE WHEN e.id IS NOT NULL THEN json_build_object(
            'id', e.id, 'external_id', e.external_id, 'date', e.occurred_on, 'precision', e.precision,
            'kind', e.kind, 'confidence', e.confidence, 'notes', e.notes, 'sources', {EVENT_SOURCES}) END,
        'territory', {TERRITORY_JSON}
    )
"""

CONTROL_AT = text(f"""
    WITH {RESOLVED_PLACES_CTE}
    SELECT (SELECT count(*) FROM resolved) AS matches,
           (SELECT {CONTROL_BODY}
            FROM place AS p
            {PERIOD_AT}
            {TERRITORY_AT}
            LEFT JOIN actor AS a ON a.id = {HOLDER_ID}
            LEFT JOIN control_event AS e ON e.id = cp.control_event_id
            WHERE p.id = (SELECT id FROM resolved) AND (SELECT count(*) FROM resolved) = 1)::text AS body
""")


async def control_at_json(
    conn: AsyncConnection,
    *,
    ref: str,
    at: date,
    as_of: datetime | None = None,
    confidence: str | None = None,
) -> bytes:
    """Who held the place `ref` names on `at`, with the event and sources behind it; as the record stood at
    `as_of` when given, from the events at least `confidence` sure when given. One statement: the reference is
    resolved inside it."""
    statement = at_moment(CONTROL_AT.text, as_of, REFERENCED_PLACE, confidence)
    body = await one_place_json(conn, statement, ref, at=at, as_of=as_of, confidence=confidence)
    return body.encode()


# Every actor's coalitions on :at, computed once per query: MATERIALIZED, or the planner inlines it into the
# join and aggregates the memberships again for every place (3x slower for a 100-place map).
COALITIONS_ON_DATE_CTE = """
    actor_coalitions AS MATERIALIZED (
        SELECT m.actor_id,
               json_agg(json_build_object('slug', c.slug, 'name', c.name) ORDER BY c.slug) AS coalitions,
               array_agg(c.id) AS ids
        FROM coalition_membership AS m JOIN coalition AS c ON c.id = m.coalition_id
        WHERE m.valid @> CAST(:at AS date)
        GROUP BY m.actor_id
    )
"""


# The GeoJSON FeatureCollection of a date, over a subquery `features` of (id, feature): one json_agg, built by
# PostgreSQL, ordered by id so the same state gives the same bytes (and ETag).
FEATURE_COLLECTION = """SELECT json_build_object('type', 'FeatureCollection', 'at', CAST(:at AS date),
                                 'features', coalesce(json_agg(feature ORDER BY id), '[]'::json))::text"""


def control_map_statement(
    where: ControlFilter, *, rows: bool = False
) -> tuple[TextClause, dict[str, object]]:
    """The statement of the map `where` asks for (whole, or with `rows` one feature a row) and its parameters."""
    sql = control_map_sql(
        bbox=where.bbox is not None,
        actor=where.actor is not None,
        coalition=where.coalition is not None,
        kinds=where.kinds is not None,
        rows=rows,
    )
    params: dict[str, object] = {
        "at": where.at,
        "actor": where.actor,
        "coalition": where.coalition,
        "kinds": list(where.kinds) if where.kinds is not None else None,
        "as_of": where.as_of,
        "confidence": where.confidence,
    }
    if where.bbox:
        params |= where.bbox.params()
    statement = at_moment(sql, where.as_of, PLACES_IN_BBOX if where.bbox else ALL_PLACES, where.confidence)
    return statement, params


def _map_references(where: ControlFilter) -> dict[str, tuple[Kind, str | None]]:
    return {"actor": ("actor", where.actor), "coalition": ("coalition", where.coalition)}


async def control_map_json(conn: AsyncConnection, where: ControlFilter) -> bytes:
    """Every place's state on a date as a GeoJSON FeatureCollection, built by PostgreSQL in one statement."""
    statement, params = control_map_statement(where)
    row = (await conn.execute(statement, params)).one()
    await refuse_unmatched(conn, row, _map_references(where))
    body: str = row.body
    return body.encode()


async def control_map_chunks(
    conn: AsyncConnection, where: ControlFilter, *, batch: int
) -> AsyncGenerator[bytes, None]:
    """The bytes `control_map_json` answers, `batch` features at a time from a server-side cursor (`conn` is in
    a transaction); the first batch is read before this returns, so a reference naming nothing is still a 404."""
    statement, params = control_map_statement(where, rows=True)
    first, batches = await primed(stream(conn, statement, params, batch=batch))
    if where.actor is not None or where.coalition is not None:
        try:
            await refuse_unmatched(conn, first[0], _map_references(where))
        except BaseException:
            await batches.aclose()
            raise
    return feature_collection(where.at, batches)


async def feature_collection(at: date, batches: Batches) -> AsyncGenerator[bytes, None]:
    """A FeatureCollection of the features PostgreSQL built, as FEATURE_COLLECTION would put them together."""
    separator = b""
    async with aclosing(batches):  # the cursor closed before its connection, also when the client leaves
        yield feature_collection_opening(at)
        async for rows in batches:
            # A row without an id is the references' counts, no feature.
            features = [row.feature for row in rows if row.id is not None]
            if features:
                yield separator + ", ".join(features).encode()
                separator = FEATURES_SEPARATOR
    yield FEATURE_COLLECTION_CLOSING


def holder_filters(
    *, actor: bool, coalition: bool, holder: str = "a.id", coalitions: str = "ac"
) -> list[str]:
    """Held by the actor the `:actor` reference names, or by a member of the `:coalition` one on :at (their CTEs
    from `resolving_filters`)."""
    filters = []
    if actor:
        filters.append(f"{holder} IN (SELECT id FROM {wanted('actor')})")
    if coalition:
        filters.append(f"{coalitions}.ids && ARRAY(SELECT id FROM {wanted('coalition')})")
    return filters


def control_map_sql(*, bbox: bool, actor: bool, coalition: bool, kinds: bool, rows: bool = False) -> str:
    """Every place's state on :at, built entirely by PostgreSQL (after the counts of what the actor and coalition
    filters name): the GeoJSON FeatureCollection as one value (`body`), or with `rows` its features, one row
    each (`id`, `feature`) in id order, for an answer streamed a batch at a time (`feature_collection`)."""
    filters = [STATE_ON_DATE]
    if bbox:
        filters.append(STATE_IN_BBOX)
    if kinds:
        filters.append(STATE_OF_KINDS)
    filters += holder_filters(actor=actor, coalition=coalition)
    features = f"""
            SELECT cp.place_id AS id, json_build_object(
                'type', 'Feature',
                'id', cp.place_id,
                'geometry', ST_AsGeoJSON(cp.geom, 5)::json,
                'properties', json_build_object(
                    'id', cp.place_id, 'slug', cp.slug, 'name', cp.name, 'kind', cp.kind,
                    'basis', {BASIS},
                    'status', {STATUS},
                    'controller', CASE WHEN a.id IS NOT NULL THEN json_build_object('slug', a.slug, 'name', a.name) END,
                    'color', a.color,
                    'coalitions', coalesce(ac.coalitions, '[]'::json),
                    'since', lower({STATE_VALID}),
                    'until', upper({STATE_VALID}),
                    'parties', {MAP_PARTIES},
                    'certainty', {CERTAINTY},
                    'disputed', {DISPUTED.format(p="cp")},
                    'alternatives', {ALTERNATIVES.format(p="cp")},
                    'event_id', cp.control_event_id,
                    'territory_id', tr.id)) AS feature
            FROM {STATES_AT}
            {TERRITORY_AT}
            LEFT JOIN actor AS a ON a.id = {HOLDER_ID}
            LEFT JOIN actor_coalitions AS ac ON ac.actor_id = {HOLDER_ID}
            WHERE {" AND ".join(filters)}
    """
    references = filter_kinds(actor=actor, coalition=coalition)
    if rows:
        sql = f"WITH {COALITIONS_ON_DATE_CTE} SELECT f.id, f.feature::text AS feature FROM ({features}) AS f ORDER BY f.id"
        return resolving_filters_rows(sql, references, "page.id")
    return resolving_filters(
        f"WITH {COALITIONS_ON_DATE_CTE} {FEATURE_COLLECTION} FROM ({features}) AS features", references
    )


# What PostgreSQL's json_build_object and json_agg put between keys, values and elements: a FeatureCollection
# streamed from its features is the very text FEATURE_COLLECTION builds whole.
FEATURES_SEPARATOR = b", "


def feature_collection_opening(at: date) -> bytes:
    return b'{"type" : "FeatureCollection", "at" : "' + at.isoformat().encode() + b'", "features" : ['


FEATURE_COLLECTION_CLOSING = b"]}"


STATE = (
    """json_build_object(
    'status', coalesce({p}.status, 'unknown'),
    'controller', (SELECT json_build_object('slug', x.slug, 'name', x.name) FROM actor AS x WHERE x.id = {p}.actor_id),
    'parties', coalesce((SELECT json_agg(json_build_object('slug', x.slug, 'name', x.name) ORDER BY x.slug)
                         FROM actor AS x WHERE x.id = ANY({p}.party_ids)), '[]'::json),
    'since', CASE WHEN {p}.control_event_id IS NOT NULL THEN lower({p}.valid) END,
    'disputed', coalesce({p}.disputed, false),
    'alternatives', """
    + ALTERNATIVES
    + ")"
)

EVENT_JSON = f"""json_build_object(
    'id', e.id, 'external_id', e.external_id, 'date', e.occurred_on, 'precision', e.precision, 'kind', e.kind,
    'status', e.status,
    'actor', (SELECT json_build_object('slug', x.slug, 'name', x.name) FROM actor AS x WHERE x.id = e.actor_id),
    'loses', (SELECT json_build_object('slug', x.slug, 'name', x.name) FROM actor AS x WHERE x.id = e.losing_actor_id),
    'parties', coalesce((SELECT json_agg(json_build_object('slug', x.slug, 'name', x.name) ORDER BY x.slug)
                         FROM actor AS x WHERE x.id = ANY(e.party_ids)), '[]'::json),
    'confidence', e.confidence, 'notes', e.notes, 'recorded_at', e.recorded_at,
    'sources', {EVENT_SOURCES})"""


def changes_statement(where: ChangesFilter, page: Page) -> tuple[TextClause, dict[str, object]]:
    """The statement of a page of changes (one place a row, in id order, one more than the page) and its
    parameters."""
    sql = changes_sql(
        bbox=where.bbox is not None, actor=where.actor is not None, after=page.after is not None
    )
    params: dict[str, object] = {
        "from": where.start,
        "to": where.end,
        "actor": where.actor,
        "limit": page.limit + 1,
        "as_of": where.as_of,
        "confidence": where.confidence,
    }
    if where.bbox:
        params |= where.bbox.params()
    if page.after:
        params["after_id"] = int(page.after[0])
    statement = at_moment(sql, where.as_of, PLACES_IN_BBOX if where.bbox else ALL_PLACES, where.confidence)
    return statement, params


def _changes_head(where: ChangesFilter) -> dict[str, object]:
    return {"from": where.start, "to": where.end}


async def changes_json(conn: AsyncConnection, where: ChangesFilter, page: Page) -> bytes:
    """A page of the places that changed between two dates, by place id, with the events in between."""
    statement, params = changes_statement(where, page)
    rows = (await conn.execute(statement, params)).all()
    if where.actor is not None:
        await refuse_unmatched(conn, rows[0], {"actor": ("actor", where.actor)})
        rows = [row for row in rows if row.id is not None]  # the filter's one row, when the page is empty
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return page_body(
        [row.item for row in rows],
        [rows[-1].id] if more else None,
        page,
        name="changes",
        head=_changes_head(where),
    )


async def changes_chunks(
    conn: AsyncConnection, where: ChangesFilter, page: Page, *, batch: int
) -> AsyncGenerator[bytes, None]:
    """The bytes `changes_json` answers, `batch` places at a time from a server-side cursor (`conn` is in a
    transaction); the first batch is read before this returns, so an actor naming nothing is still a 404."""
    statement, params = changes_statement(where, page)
    first, batches = await primed(stream(conn, statement, params, batch=batch))
    if where.actor is not None:
        try:
            await refuse_unmatched(conn, first[0], {"actor": ("actor", where.actor)})
        except BaseException:
            await batches.aclose()
            raise
    return page_chunks(batches, page, name="changes", head=_changes_head(where))


def changes_sql(*, bbox: bool, actor: bool, after: bool) -> str:
    """Places whose holder, status or parties differ between :from and :to, with the events in between.

    Only a place with a period beginning in (from, to] can differ. With a bbox, the candidates are the places in
    it that have one (a probe of the (place_id, lower(valid)) index each); without, the periods that began in
    the interval (the lower(valid) index). Either way no place outside the answer is visited.
    """
    began_in_interval = "lower(q.valid) > CAST(:from AS date) AND lower(q.valid) <= CAST(:to AS date)"
    if bbox:
        candidates = f"""(SELECT p.id AS place_id FROM place AS p
              WHERE {IN_BBOX} AND EXISTS (SELECT 1 FROM control_period AS q
                                          WHERE q.place_id = p.id AND {began_in_interval}))"""
    else:
        candidates = f"(SELECT DISTINCT q.place_id FROM control_period AS q WHERE {began_in_interval})"
    filters = []
    if actor:
        filters.append(
            f"EXISTS (SELECT 1 FROM {wanted('actor')} AS w "
            "WHERE w.id IN (b.actor_id, t.actor_id) OR w.id = ANY(b.party_ids || t.party_ids))"
        )
    if after:
        filters.append("p.id > :after_id")
    extra = "".join(f" AND ({f})" for f in filters)
    sql = f"""
        SELECT p.id, json_build_object(
            'place', json_build_object('id', p.id, 'slug', p.slug, 'name', p.name, 'kind', p.kind,
                                       'location', ST_AsGeoJSON(p.geom, 5)::json),
            'before', {STATE.format(p="b")},
            'after', {STATE.format(p="t")},
            'events', (SELECT json_agg({EVENT_JSON} ORDER BY e.occurred_on, e.seq, e.id)
                       FROM control_event AS e
                       WHERE e.place_id = p.id AND e.occurred_on > CAST(:from AS date)
                         AND e.occurred_on <= CAST(:to AS date)))::text AS item
        FROM {candidates} AS changed
        JOIN place AS p ON p.id = changed.place_id
        {period_at("b", ":from")}
        {period_at("t", ":to")}
        WHERE (b.actor_id, b.status, b.party_ids) IS DISTINCT FROM (t.actor_id, t.status, t.party_ids){extra}
        ORDER BY p.id
        LIMIT :limit
    """
    return resolving_filters_rows(sql, filter_kinds(actor=actor), "page.id")


TIMELINE = text(f"""
    WITH {RESOLVED_PLACES_CTE}
    SELECT (SELECT count(*) FROM resolved) AS matches,
           (SELECT json_build_object(
                'place', json_build_object('id', p.id, 'slug', p.slug, 'name', p.name),
                'periods', coalesce((
                    SELECT json_agg(json_build_object(
                        'since', lower(cp.valid), 'until', upper(cp.valid), 'status', cp.status,
                        'controller', (SELECT json_build_object('slug', x.slug, 'name', x.name)
                                       FROM actor AS x WHERE x.id = cp.actor_id),
                        'parties', {PERIOD_PARTIES},
                        'confidence', cp.confidence,
                        'disputed', cp.disputed,
                        'alternatives', {ALTERNATIVES.format(p="cp")},
                        'event_id', cp.control_event_id) ORDER BY lower(cp.valid))
                    FROM control_period AS cp WHERE cp.place_id = p.id), '[]'::json),
                'events', coalesce((
                    SELECT json_agg({EVENT_JSON} ORDER BY e.occurred_on, e.seq, e.id)
                    FROM control_event AS e WHERE e.place_id = p.id), '[]'::json))
            FROM place AS p
            WHERE p.id = (SELECT id FROM resolved) AND (SELECT count(*) FROM resolved) = 1)::text AS body
""")


async def timeline_json(
    conn: AsyncConnection, *, ref: str, as_of: datetime | None = None, confidence: str | None = None
) -> bytes:
    """The place's periods and events, in date order, with sources (as the record stood at `as_of`; from the
    events at least `confidence` sure)."""
    statement = at_moment(TIMELINE.text, as_of, REFERENCED_PLACE, confidence)
    body = await one_place_json(conn, statement, ref, as_of=as_of, confidence=confidence)
    return body.encode()


# For each actor and coalition, the places it held on :at (controlled, or holding out under siege), by kind,
# and the places it was fighting over. A place counts once for a coalition even if two members share it.
# area_km2: the geodesic area of the union of its territories in force on :at (a coalition: of its members'),
# measured on the ~500 m simplified copy (geom_z8) so a summary stays cheap; within a fraction of a percent.
SUMMARY = """
    WITH territory_now AS (
        SELECT t.actor_id, t.geom_z8 AS geom FROM territory AS t WHERE t.valid @> CAST(:at AS date)
    ), actor_area AS (
        SELECT actor_id, ST_Area(ST_Union(geom)::geography) / 1e6 AS km2 FROM territory_now GROUP BY actor_id
    ), state AS (
        SELECT p.kind, cp.actor_id, cp.status, cp.party_ids
        FROM control_period AS cp JOIN place AS p ON p.id = cp.place_id
        WHERE cp.valid @> CAST(:at AS date)
    ), held AS (
        SELECT actor_id, kind, count(*) AS n FROM state WHERE actor_id IS NOT NULL GROUP BY actor_id, kind
    ), contested AS (
        SELECT unnest(party_ids) AS actor_id, count(*) AS n FROM state WHERE status = 'contested' GROUP BY 1
    ), actors AS (
        SELECT a.id, a.slug, a.name,
               coalesce((SELECT sum(n) FROM held WHERE held.actor_id = a.id), 0) AS total,
               coalesce((SELECT json_object_agg(kind, n ORDER BY kind) FROM held WHERE held.actor_id = a.id),
                        '{}'::json) AS by_kind,
               coalesce((SELECT n FROM contested WHERE contested.actor_id = a.id), 0) AS contested,
               coalesce((SELECT round(km2::numeric, 1) FROM actor_area WHERE actor_area.actor_id = a.id), 0)
                   AS area_km2
        FROM actor AS a
    ), members AS (
        SELECT DISTINCT m.coalition_id, m.actor_id FROM coalition_membership AS m
        WHERE m.valid @> CAST(:at AS date)
    ), coalition_held AS (
        SELECT mb.coalition_id, s.kind, count(*) AS n
        FROM state AS s JOIN members AS mb ON mb.actor_id = s.actor_id
        GROUP BY mb.coalition_id, s.kind
    ), coalition_area AS (
        SELECT mb.coalition_id, ST_Area(ST_Union(tn.geom)::geography) / 1e6 AS km2
        FROM territory_now AS tn JOIN members AS mb ON mb.actor_id = tn.actor_id
        GROUP BY mb.coalition_id
    )
    SELECT json_build_object(
        'at', CAST(:at AS date),
        'places_known', (SELECT count(*) FROM state),
        'actors', coalesce((SELECT json_agg(json_build_object(
                'slug', slug, 'name', name, 'places', total, 'by_kind', by_kind, 'contested', contested,
                'area_km2', area_km2)
                ORDER BY total DESC, slug) FROM actors WHERE total > 0 OR contested > 0 OR area_km2 > 0),
                '[]'::json),
        'coalitions', coalesce((SELECT json_agg(json_build_object(
                'slug', c.slug, 'name', c.name,
                'places', coalesce((SELECT sum(n) FROM coalition_held AS h WHERE h.coalition_id = c.id), 0),
                'by_kind', coalesce((SELECT json_object_agg(kind, n ORDER BY kind)
                                     FROM coalition_held AS h WHERE h.coalition_id = c.id), '{}'::json),
                'area_km2', coalesce((SELECT round(km2::numeric, 1) FROM coalition_area AS ca
                                      WHERE ca.coalition_id = c.id), 0))
                ORDER BY c.slug) FROM coalition AS c), '[]'::json))::text
"""


async def summary_json(
    conn: AsyncConnection, *, at: date, as_of: datetime | None = None, confidence: str | None = None
) -> bytes:
    """Per actor and coalition on `at`: places held by kind, contested, and area held (as of `as_of`; from the
    events at least `confidence` sure)."""
    statement = at_moment(SUMMARY, as_of, confidence=confidence)
    body: str = await conn.scalar(statement, {"at": at, "as_of": as_of, "confidence": confidence})
    return body.encode()
