"""Actors, coalitions and their memberships over time; the per-date summary of who held how much."""

from __future__ import annotations

from sqlalchemy import text

ACTOR_FIELDS = """'slug', a.slug, 'name', a.name, 'kind', a.kind, 'aliases', a.aliases, 'color', a.color,
    'parent', (SELECT json_build_object('slug', x.slug, 'name', x.name) FROM actor AS x WHERE x.id = a.parent_id)"""

MEMBERSHIP_FIELDS = """'id', m.id, 'from', lower(m.valid), 'to', upper(m.valid), 'role', m.role, 'note', m.note,
    'source', (SELECT json_build_object('slug', s.slug, 'title', s.title, 'url', s.url)
               FROM source AS s WHERE s.id = m.source_id)"""

ACTORS = text(f"""
    SELECT coalesce(json_agg(json_build_object({ACTOR_FIELDS}) ORDER BY a.name), '[]'::json)::text FROM actor AS a
""")

ACTOR = text(f"""
    SELECT json_build_object({ACTOR_FIELDS}, 'notes', a.notes,
        'memberships', coalesce((
            SELECT json_agg(json_build_object('coalition', json_build_object('slug', c.slug, 'name', c.name),
                                              {MEMBERSHIP_FIELDS}) ORDER BY lower(m.valid) NULLS FIRST, c.slug)
            FROM coalition_membership AS m JOIN coalition AS c ON c.id = m.coalition_id
            WHERE m.actor_id = a.id), '[]'::json))::text
    FROM actor AS a WHERE a.slug = :slug
""")

ACTOR_SLUGS = text("SELECT slug FROM actor ORDER BY slug")
COALITION_SLUGS = text("SELECT slug FROM coalition ORDER BY slug")

COALITIONS = text("""
    SELECT coalesce(json_agg(json_build_object(
        'slug', c.slug, 'name', c.name, 'description', c.description, 'color', c.color,
        'members', (SELECT count(DISTINCT m.actor_id) FROM coalition_membership AS m WHERE m.coalition_id = c.id))
        ORDER BY c.name), '[]'::json)::text
    FROM coalition AS c
""")

# Members on :at when given, otherwise every membership over time.
COALITION = text(f"""
    SELECT json_build_object('slug', c.slug, 'name', c.name, 'description', c.description, 'color', c.color,
        'at', CAST(:at AS date),
        'members', coalesce((
            SELECT json_agg(json_build_object('actor', json_build_object('slug', a.slug, 'name', a.name),
                                              {MEMBERSHIP_FIELDS}) ORDER BY a.name, lower(m.valid) NULLS FIRST)
            FROM coalition_membership AS m JOIN actor AS a ON a.id = m.actor_id
            WHERE m.coalition_id = c.id AND (CAST(:at AS date) IS NULL OR m.valid @> CAST(:at AS date))),
            '[]'::json))::text
    FROM coalition AS c WHERE c.slug = :slug
""")

# For each actor and coalition, the places it held on :at (controlled, or holding out under siege), by kind,
# and the places it was fighting over. A place counts once for a coalition even if two members share it.
SUMMARY = text("""
    WITH state AS (
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
               coalesce((SELECT n FROM contested WHERE contested.actor_id = a.id), 0) AS contested
        FROM actor AS a
    ), members AS (
        SELECT DISTINCT m.coalition_id, m.actor_id FROM coalition_membership AS m
        WHERE m.valid @> CAST(:at AS date)
    ), coalition_held AS (
        SELECT mb.coalition_id, s.kind, count(*) AS n
        FROM state AS s JOIN members AS mb ON mb.actor_id = s.actor_id
        GROUP BY mb.coalition_id, s.kind
    )
    SELECT json_build_object(
        'at', CAST(:at AS date),
        'places_known', (SELECT count(*) FROM state),
        'actors', coalesce((SELECT json_agg(json_build_object(
                'slug', slug, 'name', name, 'places', total, 'by_kind', by_kind, 'contested', contested)
                ORDER BY total DESC, slug) FROM actors WHERE total > 0 OR contested > 0), '[]'::json),
        'coalitions', coalesce((SELECT json_agg(json_build_object(
                'slug', c.slug, 'name', c.name,
                'places', coalesce((SELECT sum(n) FROM coalition_held AS h WHERE h.coalition_id = c.id), 0),
                'by_kind', coalesce((SELECT json_object_agg(kind, n ORDER BY kind)
                                     FROM coalition_held AS h WHERE h.coalition_id = c.id), '{}'::json))
                ORDER BY c.slug) FROM coalition AS c), '[]'::json))::text
""")
