"""What a database's schema is, read from the catalogue, in a form two databases can be compared by.

Every definition PostgreSQL can print back (pg_get_functiondef, pg_get_triggerdef, pg_get_viewdef, pg_indexes,
pg_get_constraintdef), plus columns and extensions; objects an extension owns (PostGIS's functions and views)
are left out. Names, not oids, identify objects, so databases built by different paths compare equal when their
schemas are.
"""

from __future__ import annotations

import difflib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.engine import create_engine

NOT_EXTENSION_MEMBER = """
    NOT EXISTS (SELECT 1 FROM pg_depend AS d
                WHERE d.classid = '{catalog}'::regclass AND d.objid = {oid} AND d.deptype = 'e')
"""

QUERIES = {
    "function": f"""
        SELECT p.oid::regprocedure::text,
               CASE WHEN p.prokind = 'a' THEN 'aggregate ' || p.oid::regprocedure::text
                    ELSE pg_get_functiondef(p.oid) END
        FROM pg_proc AS p
        WHERE p.pronamespace = 'public'::regnamespace
          AND {NOT_EXTENSION_MEMBER.format(catalog="pg_proc", oid="p.oid")}
    """,
    "trigger": """
        SELECT t.tgrelid::regclass::text || '.' || t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger AS t
        WHERE NOT t.tgisinternal
    """,
    "view": f"""
        SELECT c.oid::regclass::text, c.relkind::text || ' ' || pg_get_viewdef(c.oid)
        FROM pg_class AS c
        WHERE c.relkind IN ('v', 'm') AND c.relnamespace = 'public'::regnamespace
          AND {NOT_EXTENSION_MEMBER.format(catalog="pg_class", oid="c.oid")}
    """,
    "index": """
        SELECT i.tablename || '.' || i.indexname, i.indexdef
        FROM pg_indexes AS i
        WHERE i.schemaname = 'public'
    """,
    "constraint": """
        SELECT coalesce(c.conrelid::regclass::text, c.contypid::regtype::text) || '.' || c.conname,
               c.contype::text || ' ' || pg_get_constraintdef(c.oid)
        FROM pg_constraint AS c
        WHERE c.connamespace = 'public'::regnamespace
    """,
    "column": f"""
        SELECT c.oid::regclass::text || '.' || a.attname,
               concat_ws(' ', format_type(a.atttypid, a.atttypmod),
                         CASE WHEN a.attnotnull THEN 'NOT NULL' END,
                         CASE a.attgenerated WHEN 's' THEN 'GENERATED ' || pg_get_expr(ad.adbin, ad.adrelid) END,
                         CASE WHEN a.attgenerated = '' THEN 'DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid) END,
                         CASE WHEN a.attidentity <> '' THEN 'IDENTITY ' || a.attidentity::text END)
        FROM pg_class AS c
        JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_attrdef AS ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
        WHERE c.relkind IN ('r', 'p') AND c.relnamespace = 'public'::regnamespace
          AND {NOT_EXTENSION_MEMBER.format(catalog="pg_class", oid="c.oid")}
    """,
    "extension": "SELECT extname, extversion FROM pg_extension",
}

# What app/db/sql defines: the part of the catalogue a database built from the sources must match.
SOURCE_KINDS = ("function", "trigger", "view")

Catalogue = dict[str, dict[str, str]]


async def catalogue(connection: AsyncConnection, kinds: tuple[str, ...] = tuple(QUERIES)) -> Catalogue:
    """kind -> object name -> its definition."""
    found: Catalogue = {}
    for kind in kinds:
        result = await connection.execute(text(QUERIES[kind]))
        found[kind] = {row[0]: row[1] for row in result}
    return found


async def catalogue_of(url: str) -> Catalogue:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return await catalogue(connection)
    finally:
        await engine.dispose()


def differences(expected: Catalogue, actual: Catalogue) -> str:
    """A readable diff of two catalogues (empty when they are the same)."""
    lines: list[str] = []
    for kind in sorted(expected.keys() | actual.keys()):
        wanted, got = expected.get(kind, {}), actual.get(kind, {})
        for name in sorted(wanted.keys() | got.keys()):
            if wanted.get(name) == got.get(name):
                continue
            if name not in got:
                lines.append(f"{kind} {name}: missing")
            elif name not in wanted:
                lines.append(f"{kind} {name}: unexpected")
            else:
                lines.append(f"{kind} {name} differs:")
            lines.extend(
                difflib.unified_diff(
                    wanted.get(name, "").splitlines(), got.get(name, "").splitlines(), lineterm="", n=1
                )
            )
    return "\n".join(lines)
