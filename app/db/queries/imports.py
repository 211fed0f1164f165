"""SQL of imports from other datasets (ACLED): their sources, where each imported event came from, and which of
an import's events a newer export no longer has."""

from __future__ import annotations

from sqlalchemy import text

# Sources an import cites (the dataset itself, the publishers it names), added when missing; one already stored
# under the slug is left as it is (it may have been corrected).
ADD_SOURCES = text("""
    INSERT INTO source (slug, title, publisher, url, notes)
    SELECT r.slug, r.title, r.publisher, r.url, r.notes
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(slug text, title text, publisher text, url text, notes text)
    ORDER BY r.slug
    ON CONFLICT (slug) DO NOTHING
""")

# When the origin last modified each of these events, as recorded by the previous import.
MODIFIED = text("""
    SELECT e.external_id, o.modified_at, e.retracted_at IS NOT NULL AS retracted
    FROM control_event AS e JOIN control_event_origin AS o ON o.control_event_id = e.id
    WHERE e.external_id = ANY(CAST(:external_ids AS text[])) AND o.origin = :origin
""")

RECORD_ORIGINS = text("""
    INSERT INTO control_event_origin (control_event_id, origin, modified_at)
    SELECT r.id, :origin, r.modified_at
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id integer, modified_at timestamptz)
    ORDER BY r.id
    ON CONFLICT (control_event_id) DO UPDATE SET origin = EXCLUDED.origin, modified_at = EXCLUDED.modified_at
""")

# The live events of this origin that an export covering these spans (per country prefix of the key, the
# dates from its first to its last row) no longer has: what ACLED deleted since the last import.
GONE = text("""
    SELECT e.id, e.external_id
    FROM jsonb_to_recordset(CAST(:spans AS jsonb)) AS s(country text, first date, last date)
    JOIN control_event AS e
      ON e.external_id LIKE :origin || ':' || s.country || '%'
     AND substring(e.external_id FROM '^[^:]+:([A-Z]+)') = s.country
     AND e.occurred_on BETWEEN s.first AND s.last
    JOIN control_event_origin AS o ON o.control_event_id = e.id AND o.origin = :origin
    WHERE e.retracted_at IS NULL AND NOT e.external_id = ANY(CAST(:present AS text[]))
    ORDER BY e.id
""")
