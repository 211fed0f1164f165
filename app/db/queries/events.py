"""SQL of event writing: references resolved in bulk, rows inserted from one JSON document, versions, history."""

from __future__ import annotations

from sqlalchemy import text

from app.db.queries.control import EVENT_JSON

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

# A reference that is an id, as a number the primary key's index can look up (`id::text = ref` cannot: it read
# every place once per reference, 38 s for a batch of 1,000 at 100,000 places); NULL for anything else.
PLACE_ID_OF_REF = "CASE WHEN r.ref ~ '^[1-9][0-9]{0,17}$' THEN CAST(r.ref AS bigint) END"

# Each reference -> every id it may name: [{id, slug, name}], as JSON. An id or slug match wins over a name.
RESOLVE = {
    "place": text(f"""
        SELECT r.ref, coalesce(json_agg(json_build_object('id', m.id, 'slug', m.slug, 'name', m.name)
                                        ORDER BY m.id) FILTER (WHERE m.id IS NOT NULL), '[]'::json)
        FROM unnest(CAST(:refs AS text[])) AS r(ref)
        LEFT JOIN LATERAL (
            SELECT k.id, k.slug, k.name FROM place AS k WHERE k.slug = r.ref OR k.id = {PLACE_ID_OF_REF}
            UNION
            SELECT p.id, p.slug, p.name FROM place_name AS n JOIN place AS p ON p.id = n.place_id
            WHERE n.name_norm = territory_normalize(r.ref)
              AND NOT EXISTS (SELECT 1 FROM place AS k WHERE k.slug = r.ref OR k.id = {PLACE_ID_OF_REF})
        ) AS m ON true
        GROUP BY r.ref
    """),
    "actor": text("""
        SELECT r.ref, coalesce(json_agg(json_build_object('id', a.id, 'slug', a.slug, 'name', a.name)
                                        ORDER BY a.id) FILTER (WHERE a.id IS NOT NULL), '[]'::json)
        FROM unnest(CAST(:refs AS text[])) AS r(ref)
        LEFT JOIN actor AS a
               ON a.slug = r.ref
              OR (NOT EXISTS (SELECT 1 FROM actor AS k WHERE k.slug = r.ref)
                  AND territory_normalize(r.ref) IN (
                      SELECT territory_normalize(x) FROM unnest(a.aliases || a.name) AS x))
        GROUP BY r.ref
    """),
    "source": text("""
        SELECT r.ref, coalesce(json_agg(json_build_object('id', s.id, 'slug', s.slug, 'name', s.title)
                                        ORDER BY s.id) FILTER (WHERE s.id IS NOT NULL), '[]'::json)
        FROM unnest(CAST(:refs AS text[])) AS r(ref)
        LEFT JOIN source AS s ON s.slug = r.ref OR (s.url = r.ref AND r.ref LIKE 'http%')
        GROUP BY r.ref
    """),
}

SUGGEST = {
    "place": text("""
        SELECT p.slug, p.name, round(max(similarity(n.name_norm, territory_normalize(:ref)))::numeric, 2)::float
               AS score
        FROM place_name AS n JOIN place AS p ON p.id = n.place_id
        WHERE n.name_norm % territory_normalize(:ref)
        GROUP BY p.id ORDER BY score DESC, p.name LIMIT 5
    """),
    "actor": text("""
        SELECT slug, name, round(greatest(similarity(slug, :ref), similarity(lower(name), lower(:ref)))::numeric, 2)::float
               AS score
        FROM actor ORDER BY score DESC, slug LIMIT 3
    """),
    "source": text("""
        SELECT slug, title AS name, round(similarity(slug, :ref)::numeric, 2)::float AS score
        FROM source ORDER BY score DESC, slug LIMIT 3
    """),
}

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
    SELECT e.id, e.external_id, json_build_object(
        'place_id', e.place_id, 'occurred_on', e.occurred_on, 'precision', e.precision, 'seq', e.seq,
        'kind', e.kind, 'actor_id', e.actor_id, 'losing_actor_id', e.losing_actor_id, 'status', e.status,
        'party_ids', ARRAY(SELECT DISTINCT p FROM unnest(e.party_ids) AS p ORDER BY p),
        'confidence', e.confidence, 'notes', e.notes,
        'source_ids', ARRAY(SELECT s.source_id FROM control_event_source AS s
                            WHERE s.control_event_id = e.id ORDER BY s.source_id)) AS content
    FROM control_event AS e WHERE e.external_id = ANY(CAST(:external_ids AS text[]))
""")

RECORD_VERSIONS = text("SELECT record_event_versions(CAST(:ids AS integer[]), :key_id)")

# Live events of the same place and day as one of :ids, with two different holders, neither contested.
SAME_DAY_CLASHES = text("""
    SELECT e.id, e.external_id, e.occurred_on, p.name AS place, a.name AS actor,
           o.id AS other_id, o.external_id AS other_external_id, b.name AS other_actor
    FROM control_event AS e
    JOIN control_event AS o ON o.place_id = e.place_id AND o.occurred_on = e.occurred_on AND o.id <> e.id
    JOIN place AS p ON p.id = e.place_id
    LEFT JOIN actor AS a ON a.id = e.actor_id
    LEFT JOIN actor AS b ON b.id = o.actor_id
    WHERE e.id = ANY(CAST(:ids AS integer[]))
      AND e.retracted_at IS NULL AND o.retracted_at IS NULL
      AND e.status <> 'contested' AND o.status <> 'contested'
      AND e.actor_id IS DISTINCT FROM o.actor_id
      AND NOT (o.id = ANY(CAST(:ids AS integer[])) AND o.id < e.id)
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
