"""Actors, coalitions and their memberships over time."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries.as_of import statement_at
from app.db.queries.references import resolve
from app.errors import NotFound

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


async def actors_json(conn: AsyncConnection, *, as_of: datetime | None = None) -> bytes:
    """Every armed actor, with its kind, aliases, parent and map colour, by name (as recorded at `as_of`)."""
    body: str = await conn.scalar(statement_at(ACTORS, as_of), {"as_of": as_of})
    return body.encode()


async def actor_json(conn: AsyncConnection, slug: str, *, as_of: datetime | None = None) -> bytes:
    """One actor with its coalition memberships over time, by slug (or, at the cost of a lookup first, by name
    or alias); 404 with suggestions. As recorded at `as_of` when given."""
    statement = statement_at(ACTOR, as_of)
    body: str | None = await conn.scalar(statement, {"slug": slug, "as_of": as_of})
    if body is None:
        found = await resolve(conn, "actor", slug, field="slug")
        body = await conn.scalar(statement, {"slug": found["slug"], "as_of": as_of})
    if body is None:
        raise NotFound(f"Actor '{slug}' was not recorded yet at {as_of}.")
    return str(body).encode()


async def coalitions_json(conn: AsyncConnection, *, as_of: datetime | None = None) -> bytes:
    """Every coalition, with how many actors have ever been members (as recorded at `as_of`)."""
    body: str = await conn.scalar(statement_at(COALITIONS, as_of), {"as_of": as_of})
    return body.encode()


async def coalition_json(
    conn: AsyncConnection, slug: str, *, at: date | None, as_of: datetime | None = None
) -> bytes:
    """One coalition and its members: on `at` when given, otherwise every membership over time; as recorded
    at `as_of` when given."""
    statement = statement_at(COALITION, as_of)
    body: str | None = await conn.scalar(statement, {"slug": slug, "at": at, "as_of": as_of})
    if body is None:  # a name, or nothing known: 404 with suggestions
        found = await resolve(conn, "coalition", slug, field="slug")
        body = await conn.scalar(statement, {"slug": found["slug"], "at": at, "as_of": as_of})
    if body is None:
        raise NotFound(f"Coalition '{slug}' was not recorded yet at {as_of}.")
    return str(body).encode()
