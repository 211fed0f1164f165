"""Every version of the reference resources (places and their spellings, actors, coalitions and memberships,
sources, territories, front lines): their `/history` pages and their items in the events feed.

The versions are rows of `<table>_version`, kept by the trigger app/db/sql/record_versions.sql. Their ids come
from one sequence, so the versions of a place and of its spellings sort together in the order they were written;
a history page is keyed by that id. A version's `data` is the row as it was then (to_jsonb: geometry as GeoJSON),
without the simplified copies PostgreSQL derives from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries.as_of import statement_at
from app.db.queries.control import COALITIONS_ON_DATE_CTE
from app.db.queries.filters import Page
from app.db.queries.pages import page_body
from app.db.queries.territory import ACTOR_JSON, SOURCE_JSON
from app.errors import NotFound

# Columns of a version row that are the version's, not the resource's; and the derived copies of territories.
META = ("id", "version", "change", "recorded", "position")
DERIVED = {"territory": ("geom_z6", "geom_z8", "geom_z6_3857", "geom_z8_3857")}


def data_json(table: str, alias: str = "v") -> str:
    """The resource's content in a version row, as jsonb."""
    dropped = ", ".join(f"'{name}'" for name in (*META, f"{table}_id", *DERIVED.get(table, ())))
    return f"(to_jsonb({alias}) - ARRAY[{dropped}])"


def version_json(table: str, alias: str = "v") -> str:
    """One version as the history and the feed show it (`resource` the table, `id` its row's id)."""
    return f"""json_build_object(
        'resource', '{table}', 'id', {alias}.{table}_id, 'version', {alias}.version, 'change', {alias}.change,
        'recorded_from', lower({alias}.recorded), 'recorded_until', upper({alias}.recorded),
        'position', {alias}.position, 'data', {data_json(table, alias)})"""


@dataclass(frozen=True)
class Related:
    """Versions of `table` that belong to a resource's history: those whose `column` is the resource's id."""

    table: str
    column: str


# Each resource's history: its own versions, and those of the rows that describe it.
HISTORIES: dict[str, tuple[Related, ...]] = {
    "place": (Related("place", "place_id"), Related("place_name", "place_id")),
    "actor": (Related("actor", "actor_id"), Related("coalition_membership", "actor_id")),
    "coalition": (Related("coalition", "coalition_id"), Related("coalition_membership", "coalition_id")),
    "source": (Related("source", "source_id"),),
    "territory": (Related("territory", "territory_id"),),
    "front_line": (Related("front_line", "front_line_id"),),
}


def history_sql(kind: str, *, after: bool) -> str:
    """One page of a resource's versions (and its related rows'), oldest first, keyed by version id."""
    keyset = " AND v.id > :after_id" if after else ""
    branches = "\n            UNION ALL\n".join(
        f"""(SELECT v.id, {version_json(r.table)}::text AS item FROM {r.table}_version AS v
             WHERE v.{r.column} = :id{keyset} ORDER BY v.id LIMIT :limit)"""
        for r in HISTORIES[kind]
    )
    return f"""
        SELECT page.id, page.item FROM (
            {branches}
        ) AS page
        ORDER BY page.id
        LIMIT :limit
    """


_HISTORY: dict[tuple[str, bool], TextClause] = {
    (kind, after): text(history_sql(kind, after=after)) for kind in HISTORIES for after in (False, True)
}

# Whether the resource has any version (a deleted one still has its history).
_KNOWN = {
    kind: text(f"SELECT EXISTS (SELECT 1 FROM {kind}_version WHERE {kind}_id = :id)") for kind in HISTORIES
}


async def history_json(
    conn: AsyncConnection, kind: str, entity_id: int, page: Page, *, head: dict[str, object]
) -> bytes:
    """A page of the versions of one resource `kind` (a table name) and of the rows that describe it."""
    if not await conn.scalar(_KNOWN[kind], {"id": entity_id}):
        raise NotFound(f"No {kind.replace('_', ' ')} has the id {entity_id}.")
    params: dict[str, object] = {"id": entity_id, "limit": page.limit + 1}
    if page.after:
        params["after_id"] = int(page.after[0])
    rows = (await conn.execute(_HISTORY[kind, page.after is not None], params)).all()
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return page_body(
        [row.item for row in rows],
        [rows[-1].id] if more else None,
        page,
        name="versions",
        head={"resource": kind, "id": entity_id, **head},
    )


# --- One territory, one front line -----------------------------------------------------------------------------
# The same properties as in their maps; the coalitions are the actor's on the territory's first day.

TERRITORY = text(f"""
    WITH {COALITIONS_ON_DATE_CTE.replace("CAST(:at AS date)", "(SELECT lower(valid) FROM territory WHERE id = :id)")}
    SELECT json_build_object(
        'type', 'Feature', 'id', t.id, 'geometry', ST_AsGeoJSON(t.geom, 5)::json,
        'properties', json_build_object(
            'id', t.id, 'external_id', t.external_id,
            'actor', {ACTOR_JSON.format(a="a")},
            'color', a.color,
            'coalitions', coalesce(ac.coalitions, '[]'::json),
            'valid_from', lower(t.valid), 'valid_to', upper(t.valid),
            'source', {SOURCE_JSON.format(alias="t")},
            'approximate', t.approximate, 'notes', t.notes,
            'area_km2', round(t.area_km2::numeric, 1)))::text
    FROM territory AS t
    JOIN actor AS a ON a.id = t.actor_id
    LEFT JOIN actor_coalitions AS ac ON ac.actor_id = t.actor_id
    WHERE t.id = :id
""")

FRONT_LINE = text(f"""
    SELECT json_build_object(
        'type', 'Feature', 'id', f.id, 'geometry', ST_AsGeoJSON(f.geom, 5)::json,
        'properties', json_build_object(
            'id', f.id, 'external_id', f.external_id,
            'side_a', {ACTOR_JSON.format(a="sa")},
            'side_b', {ACTOR_JSON.format(a="sb")},
            'valid_from', lower(f.valid), 'valid_to', upper(f.valid),
            'source', {SOURCE_JSON.format(alias="f")},
            'approximate', f.approximate, 'notes', f.notes,
            'length_km', round((ST_Length(f.geom::geography) / 1000)::numeric, 1)))::text
    FROM front_line AS f
    JOIN actor AS sa ON sa.id = f.side_a_actor_id
    JOIN actor AS sb ON sb.id = f.side_b_actor_id
    WHERE f.id = :id
""")


async def feature_json(conn: AsyncConnection, kind: str, entity_id: int, *, as_of: datetime | None) -> bytes:
    """One territory or front line as a GeoJSON Feature (as the record stood at `as_of` when given)."""
    statement = statement_at(TERRITORY if kind == "territory" else FRONT_LINE, as_of)
    body: str | None = await conn.scalar(statement, {"id": entity_id, "as_of": as_of})
    if body is None:
        when = "" if as_of is None else f" as of {as_of.isoformat()}"
        raise NotFound(f"No {kind.replace('_', ' ')} has the id {entity_id}{when}.")
    return body.encode()
