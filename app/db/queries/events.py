"""SQL of events: writing (rows inserted from one JSON document, versions, history),
and reading them as a list or a feed in recording order."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import TextClause, text

from app.db.queries.as_of import VERSIONED
from app.db.queries.control import EVENT_JSON
from app.db.queries.history import version_json
from app.db.queries.references import RESOLVED_PLACES_CTE, resolved_cte

# The fields whose values make an event's content (what "the same event" means for a resend).
CONTENT_FIELDS = (
    "place_id",
    "occurred_on",
    "precision",
    "seq",
    "kind",
    "actor_id",
    "losing_actor_id",
    "status",
    "party_ids",
    "confidence",
    "notes",
    "source_ids",
)

ROWS = """jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
    external_id text, place_id integer, occurred_on date, precision text, seq smallint, kind text,
    actor_id integer, losing_actor_id integer, status text, party_ids integer[], confidence text, notes text,
    source_ids integer[])"""

# New events only: one already recorded under its external_id is left alone (and compared by the caller).
INSERT_EVENTS = text(f"""
    INSERT INTO control_event (external_id, place_id, occurred_on, precision, seq, kind, actor_id,
                               losing_actor_id, status, party_ids, confidence, notes, recorded_by)
    SELECT external_id, place_id, occurred_on, precision, seq, kind, actor_id, losing_actor_id, status,
           party_ids, confidence, notes, :key_id
    FROM {ROWS}
    ORDER BY external_id
    ON CONFLICT (external_id) DO NOTHING
    RETURNING id, external_id
""")

LINK_SOURCES = text(f"""
    INSERT INTO control_event_source (control_event_id, source_id)
    SELECT e.id, unnest(r.source_ids)
    FROM {ROWS} JOIN control_event AS e ON e.external_id = r.external_id
    WHERE e.id = ANY(CAST(:ids AS integer[]))
    ON CONFLICT DO NOTHING
""")

STORED_CONTENT = text("""
    SELECT e.id, e.external_id, e.retracted_at IS NOT NULL AS retracted, json_build_object(
        'place_id', e.place_id, 'occurred_on', e.occurred_on, 'precision', e.precision, 'seq', e.seq,
        'kind', e.kind, 'actor_id', e.actor_id, 'losing_actor_id', e.losing_actor_id, 'status', e.status,
        'party_ids', ARRAY(SELECT DISTINCT p FROM unnest(e.party_ids) AS p ORDER BY p),
        'confidence', e.confidence, 'notes', e.notes,
        'source_ids', ARRAY(SELECT s.source_id FROM control_event_source AS s
                            WHERE s.control_event_id = e.id ORDER BY s.source_id)) AS content
    FROM control_event AS e WHERE e.external_id = ANY(CAST(:external_ids AS text[]))
""")

RECORD_VERSIONS = text("SELECT record_event_versions(CAST(:ids AS integer[]), :key_id)")

# Live events of the same place and day as one of :ids, with two different holders, neither contested, and a
# source in common (`sources`: the slugs they share): one source contradicting itself. Two sources disagreeing
# are rival claims, stored and resolved (app/db/sql/derive_control_periods.sql).
SAME_DAY_CLASHES = text("""
    SELECT e.id, e.external_id, e.occurred_on, p.name AS place, a.name AS actor,
           o.id AS other_id, o.external_id AS other_external_id, b.name AS other_actor, shared.sources
    FROM control_event AS e
    JOIN control_event AS o ON o.place_id = e.place_id AND o.occurred_on = e.occurred_on AND o.id <> e.id
    JOIN place AS p ON p.id = e.place_id
    LEFT JOIN actor AS a ON a.id = e.actor_id
    LEFT JOIN actor AS b ON b.id = o.actor_id
    CROSS JOIN LATERAL (
        SELECT array_agg(s.slug ORDER BY s.slug) AS sources
        FROM control_event_source AS x JOIN control_event_source AS y ON y.source_id = x.source_id
        JOIN source AS s ON s.id = x.source_id
        WHERE x.control_event_id = e.id AND y.control_event_id = o.id) AS shared
    WHERE e.id = ANY(CAST(:ids AS integer[]))
      AND e.retracted_at IS NULL AND o.retracted_at IS NULL
      AND e.status <> 'contested' AND o.status <> 'contested'
      AND e.actor_id IS DISTINCT FROM o.actor_id
      AND NOT (o.id = ANY(CAST(:ids AS integer[])) AND o.id < e.id)
      AND shared.sources IS NOT NULL
    ORDER BY e.id, o.id
""")

EVENT = text(f"""
    SELECT (json_build_object(
        'place', (SELECT json_build_object('id', p.id, 'slug', p.slug, 'name', p.name) FROM place AS p
                  WHERE p.id = e.place_id),
        'version', (SELECT max(v.version) FROM control_event_version AS v WHERE v.control_event_id = e.id),
        'updated_at', e.updated_at, 'retracted_at', e.retracted_at)::jsonb
        || {EVENT_JSON}::jsonb)::text
    FROM control_event AS e WHERE e.id = :id
""")

# The editable fields of an event as references (slugs), for merging a correction into.
EVENT_FOR_UPDATE = text("""
    SELECT e.retracted_at, json_build_object(
        'place', p.slug, 'date', e.occurred_on, 'precision', e.precision, 'seq', e.seq, 'kind', e.kind,
        'actor', a.slug, 'loses', l.slug, 'status', e.status,
        'parties', ARRAY(SELECT x.slug FROM actor AS x WHERE x.id = ANY(e.party_ids) ORDER BY x.slug),
        'confidence', e.confidence, 'notes', e.notes,
        'sources', ARRAY(SELECT s.slug FROM control_event_source AS es JOIN source AS s ON s.id = es.source_id
                         WHERE es.control_event_id = e.id ORDER BY s.slug)) AS fields
    FROM control_event AS e
    JOIN place AS p ON p.id = e.place_id
    LEFT JOIN actor AS a ON a.id = e.actor_id
    LEFT JOIN actor AS l ON l.id = e.losing_actor_id
    WHERE e.id = :id
    FOR UPDATE OF e
""")

UPDATE_EVENT = text("""
    UPDATE control_event SET place_id = :place_id, occurred_on = :occurred_on,
        precision = :precision, seq = :seq, kind = :kind, actor_id = :actor_id,
        losing_actor_id = :losing_actor_id, status = :status, party_ids = CAST(:party_ids AS integer[]),
        confidence = :confidence, notes = :notes, updated_at = now(), recorded_by = :key_id
    WHERE id = :id
""")

REPLACE_SOURCES = text("""
    WITH gone AS (
        DELETE FROM control_event_source
        WHERE control_event_id = :id AND NOT source_id = ANY(CAST(:source_ids AS integer[]))
    )
    INSERT INTO control_event_source (control_event_id, source_id)
    SELECT :id, unnest(CAST(:source_ids AS integer[]))
    ON CONFLICT DO NOTHING
""")

# Corrections of many events at once, from rows as INSERT_EVENTS takes them (an importer's newer version of
# events it recorded before); a retracted event that comes back is live again.
UPDATE_EVENTS = text(f"""
    UPDATE control_event AS e SET place_id = r.place_id, occurred_on = r.occurred_on, precision = r.precision,
        seq = r.seq, kind = r.kind, actor_id = r.actor_id, losing_actor_id = r.losing_actor_id, status = r.status,
        party_ids = r.party_ids, confidence = r.confidence, notes = r.notes, retracted_at = NULL,
        updated_at = now(), recorded_by = :key_id
    FROM {ROWS}
    WHERE e.external_id = r.external_id AND e.id = ANY(CAST(:ids AS integer[]))
""")

REPLACE_SOURCES_OF = text(f"""
    WITH wanted AS (
        SELECT e.id, r.source_ids FROM {ROWS} JOIN control_event AS e ON e.external_id = r.external_id
        WHERE e.id = ANY(CAST(:ids AS integer[]))
    ), gone AS (
        DELETE FROM control_event_source AS s USING wanted AS w
        WHERE s.control_event_id = w.id AND NOT s.source_id = ANY(w.source_ids)
    )
    INSERT INTO control_event_source (control_event_id, source_id)
    SELECT w.id, unnest(w.source_ids) FROM wanted AS w
    ON CONFLICT DO NOTHING
""")

# Retracting many at once (an import's events its newer export no longer has); already retracted ones stay so.
RETRACT_EVENTS = text("""
    UPDATE control_event SET retracted_at = now(), recorded_by = :key_id
    WHERE id = ANY(CAST(:ids AS integer[])) AND retracted_at IS NULL
    RETURNING id
""")

# Retracting twice keeps the first retraction.
RETRACT_EVENT = text("""
    UPDATE control_event SET retracted_at = coalesce(retracted_at, now()), recorded_by = :key_id
    WHERE id = :id
    RETURNING id
""")

HISTORY = text("""
    SELECT json_build_object(
        'id', e.id, 'external_id', e.external_id, 'retracted_at', e.retracted_at,
        'versions', (SELECT json_agg(json_build_object(
                'version', v.version, 'change', v.change,
                'recorded_from', lower(v.recorded), 'recorded_until', upper(v.recorded),
                'recorded_by', k.name,
                'place', (SELECT json_build_object('id', p.id, 'slug', p.slug, 'name', p.name)
                          FROM place AS p WHERE p.id = v.place_id),
                'date', v.occurred_on, 'precision', v.precision, 'seq', v.seq, 'kind', v.kind,
                'status', v.status,
                'actor', (SELECT json_build_object('slug', x.slug, 'name', x.name) FROM actor AS x
                          WHERE x.id = v.actor_id),
                'loses', (SELECT json_build_object('slug', x.slug, 'name', x.name) FROM actor AS x
                          WHERE x.id = v.losing_actor_id),
                'parties', coalesce((SELECT json_agg(x.slug ORDER BY x.slug) FROM actor AS x
                                     WHERE x.id = ANY(v.party_ids)), '[]'::json),
                'confidence', v.confidence, 'notes', v.notes,
                'sources', coalesce((SELECT json_agg(s.slug ORDER BY s.slug) FROM source AS s
                                     WHERE s.id = ANY(v.source_ids)), '[]'::json))
            ORDER BY v.version)
            FROM control_event_version AS v LEFT JOIN api_key AS k ON k.id = v.recorded_by
            WHERE v.control_event_id = e.id))::text
    FROM control_event AS e WHERE e.id = :id
""")


# Whether a position is one the feed gave out, for an event or any other resource (one sequence for all).
POSITION_FOUND = (
    "("
    + " OR ".join(
        f"EXISTS (SELECT 1 FROM {table} WHERE position = {{position}})"
        for table in ("control_event_version", *(f"{t}_version" for t in VERSIONED))
    )
    + ")"
)

# The events list and the live feed. An item is an event as it stands now, with the version that made it so.
FEED_ITEM = f"""(json_build_object(
        'position', v.position, 'version', v.version, 'change', v.change, 'changed_at', lower(v.recorded),
        'place', (SELECT json_build_object('id', p.id, 'slug', p.slug, 'name', p.name) FROM place AS p
                  WHERE p.id = e.place_id),
        'updated_at', e.updated_at, 'retracted_at', e.retracted_at)::jsonb
        || {EVENT_JSON}::jsonb)::text"""

# Recording order is by position. Positions are given when the writing transaction commits, in commit order,
# under a lock held until the commit is visible (app/db/sql/assign_feed_positions.sql): a reader that sees a
# position sees every smaller one, so a cursor (the last position seen) misses nothing and repeats nothing, and
# nothing but another writer of events of this database, committing, can hold it back. A version without a
# position is one its own (uncommitted) transaction reads: not in the feed yet.
#
# Only the open version of each event (upper_inf) is listed: an event shows once, at the position of its latest
# change, in its current state (which equals that version's content: a later committed change closes it).


def events_page_sql(
    *,
    newest: bool,
    place: bool,
    actor: bool,
    from_date: bool,
    to_date: bool,
    since_position: bool,
    since_time: bool,
    after: bool,
    resources: tuple[str, ...] = ("event",),
) -> str:
    """One page of events, in recording order (by position) or newest first (by date), with a keyset cursor.

    Always at least one row: the first columns say whether the place, actor and since-position named exist
    (`matches`, `actor_matches`: 1 when the reference names one, `since_found`); the page's items follow, one
    per row (NULL when the page is empty).

    `resources`: "event" and the versioned tables whose changes the page carries too (their open versions, by
    the same positions: one order for the whole feed). Those take no place, actor or date filter and only the
    recording order (the caller refuses the rest).
    """
    ctes = []
    if place:
        ctes.append(RESOLVED_PLACES_CTE)
    if actor:
        ctes.append(resolved_cte("actor", ":actor", name="wanted_actor"))
    filters = ["upper_inf(v.recorded)", "v.position IS NOT NULL"]
    if place:
        filters.append("e.place_id IN (SELECT id FROM resolved)")
    if actor:
        filters.append(
            "EXISTS (SELECT 1 FROM wanted_actor AS w "
            "WHERE w.id IN (e.actor_id, e.losing_actor_id) OR w.id = ANY(e.party_ids))"
        )
    if from_date:
        filters.append("e.occurred_on >= CAST(:from AS date)")
    if to_date:
        filters.append("e.occurred_on <= CAST(:to AS date)")
    if since_position:
        filters.append("v.position > CAST(:since_position AS bigint)")
    if since_time:
        filters.append("lower(v.recorded) >= CAST(:since_time AS timestamptz)")
    if after and newest:
        filters.append("(e.occurred_on, e.id) < (CAST(:after_date AS date), CAST(:after_id AS integer))")
    elif after:
        filters.append("v.position > CAST(:after_position AS bigint)")
    order = "e.occurred_on DESC, e.id DESC" if newest else "v.position"
    outer_order = "page.occurred_on DESC, page.event_id DESC" if newest else "page.position"
    since_found = (
        POSITION_FOUND.format(position="CAST(:since_position AS bigint)") if since_position else "true"
    )
    events = f"""
            SELECT v.position, e.occurred_on, e.id AS event_id, v.change, {FEED_ITEM} AS item
            FROM control_event AS e
            JOIN control_event_version AS v ON v.control_event_id = e.id
            WHERE {" AND ".join(filters)}
            ORDER BY {order}
            LIMIT :limit"""
    others = [table for table in VERSIONED if table in resources]
    if others:
        # Each branch is a scan of its feed index from the cursor; the page is their first :limit by position.
        shared = filters[:2] + [f for f in filters[2:] if f.startswith(("v.position", "lower(v.recorded)"))]
        branches = [f"({events})"] if "event" in resources else []
        branches += [
            f"""(SELECT v.position, NULL::date AS occurred_on, NULL::integer AS event_id, v.change,
                        {version_json(table)}::text AS item
                 FROM {table}_version AS v
                 WHERE {" AND ".join(shared)}
                 ORDER BY v.position
                 LIMIT :limit)"""
            for table in others
        ]
        events = f"""
            SELECT * FROM ({" UNION ALL ".join(branches)}) AS changes
            ORDER BY changes.position
            LIMIT :limit"""
    return f"""
        WITH {"".join(cte + ", " for cte in ctes)}
        page AS ({events}
        )
        SELECT meta.matches, meta.actor_matches, meta.since_found,
               page.position, page.occurred_on, page.event_id, page.change, page.item
        FROM (SELECT {"(SELECT count(*) FROM resolved)" if place else "1"} AS matches,
                     {"(SELECT count(*) FROM wanted_actor)" if actor else "1"} AS actor_matches,
                     {since_found} AS since_found) AS meta
        LEFT JOIN page ON true
        ORDER BY {outer_order}
    """


@lru_cache(maxsize=128)
def events_page_statement(resources: tuple[str, ...] = ("event",), **flags: bool) -> TextClause:
    """events_page_sql as a statement, built once per combination of filters."""
    return text(events_page_sql(resources=resources, **flags))


# Where the feed stands: its last position, over every resource's versions (NULL when there is none yet).
FEED_HEAD = text(
    "SELECT greatest("
    + ", ".join(
        f"(SELECT max(position) FROM {table} WHERE upper_inf(recorded))"
        for table in ("control_event_version", *(f"{t}_version" for t in VERSIONED))
    )
    + ") AS position"
)

# Whether a position a client names (since=, Last-Event-ID) is one this API gave out.
POSITION_EXISTS = text(f"SELECT {POSITION_FOUND.format(position=':position')}")
