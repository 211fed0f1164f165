"""Finding places: by id, slug or any spelling, and the closest names when nothing matches."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries.as_of import live_sql
from app.db.queries.filters import IN_BBOX, OF_KINDS, Page, PlaceSearch
from app.db.queries.pages import page_body
from app.errors import AmbiguousPlace, PlaceNotFound

# A place reference is its id, its slug, or any spelling (compared normalised: case, accents, apostrophes and
# hyphens do not matter). An id or slug match wins over a spelling, so a slug can never be ambiguous.
RESOLVED_PLACES_CTE = """
    by_key AS (
        SELECT id FROM place WHERE slug = :ref OR id = :ref_id
    ), by_name AS (
        SELECT DISTINCT n.place_id AS id FROM place_name AS n
        WHERE NOT EXISTS (SELECT 1 FROM by_key) AND n.name_norm = territory_normalize(:ref)
    ), resolved AS (
        SELECT id FROM by_key UNION ALL SELECT id FROM by_name
    )
"""

CANDIDATES = text(f"""
    WITH {RESOLVED_PLACES_CTE}
    SELECT p.id, p.slug, p.name, p.kind, p.country_code FROM resolved JOIN place AS p USING (id) ORDER BY p.id
""")

SUGGESTIONS = text("""
    SELECT p.id, p.slug, p.name, round(max(similarity(n.name_norm, q.norm))::numeric, 2)::float AS score
    FROM (SELECT territory_normalize(:ref) AS norm) AS q
    JOIN place_name AS n ON n.name_norm % q.norm
    JOIN place AS p ON p.id = n.place_id
    GROUP BY p.id
    ORDER BY score DESC, p.name
    LIMIT 5
""")


def ref_params(ref: str) -> dict[str, Any]:
    ref = ref.strip()
    return {"ref": ref, "ref_id": int(ref) if ref.isdigit() and len(ref) < 10 else None}


async def suggestions(conn: AsyncConnection, ref: str) -> list[dict[str, Any]]:
    rows = await conn.execute(SUGGESTIONS, ref_params(ref))
    return [dict(row._mapping) for row in rows]


async def raise_unresolved(conn: AsyncConnection, ref: str, candidates: list[dict[str, Any]]) -> None:
    """Turn a reference that matched no place, or several, into the matching problem."""
    if len(candidates) > 1:
        raise AmbiguousPlace(ref, candidates)
    raise PlaceNotFound(ref, await suggestions(conn, ref))


async def resolve_place(conn: AsyncConnection, ref: str) -> dict[str, Any]:
    """The one place `ref` names: 404 with suggestions when none does, 409 listing them when several do."""
    candidates = [dict(row._mapping) for row in await conn.execute(CANDIDATES, ref_params(ref))]
    if len(candidates) != 1:
        await raise_unresolved(conn, ref, candidates)
    return candidates[0]


async def search_places_json(conn: AsyncConnection, where: PlaceSearch, page: Page) -> bytes:
    """A page of places matching the search, ranked (by similarity, distance or id), with its `next` link."""
    sql = search_sql(
        q=bool(where.q),
        near=where.near is not None,
        bbox=where.bbox is not None,
        kinds=where.kinds is not None,
        after=page.after is not None,
    )
    params: dict[str, object] = {
        "q": where.q,
        "kinds": list(where.kinds) if where.kinds is not None else None,
        "limit": page.limit + 1,
    }
    if where.near:
        params |= {"lon": where.near.lon, "lat": where.near.lat, "radius_m": where.radius_km * 1000}
    if where.bbox:
        params |= where.bbox.params()
    if page.after:
        params |= {"after_key": float(page.after[0]), "after_id": int(page.after[1])}
    rows = (await conn.execute(live_sql(sql), params)).all()
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return page_body([row.item for row in rows], [rows[-1].sort_key, rows[-1].id] if more else None, page)


def search_sql(*, q: bool, near: bool, bbox: bool, kinds: bool, after: bool) -> str:
    """Place search, ranked by similarity to `q` (or by distance to `near`, or by id), with a keyset cursor.

    Each row carries its sort key (`sort_key`, `id`) so the caller can hand out the next cursor.
    """
    filters = []
    if bbox:
        filters.append(IN_BBOX)
    if near:
        filters.append("ST_DWithin(p.geom::geography, ST_MakePoint(:lon, :lat)::geography, :radius_m)")
    if kinds:
        filters.append(OF_KINDS)
    if q:
        # Candidates: trigram similarity for typos, word similarity for partial input ("deir"). Ranked by the
        # best whole-name similarity: word similarity alone over-rewards long names ("dair" ~ "airbase").
        source = """
            (SELECT n.place_id, max(similarity(n.name_norm, q.norm)) AS score,
                    (array_agg(n.name ORDER BY similarity(n.name_norm, q.norm) DESC))[1] AS matched_name
             FROM place_name AS n, (SELECT territory_normalize(:q) AS norm) AS q
             WHERE n.name_norm % q.norm OR q.norm <% n.name_norm
             GROUP BY n.place_id) AS m
            JOIN place AS p ON p.id = m.place_id
        """
        sort_key = "round((-m.score)::numeric, 6)::float8"
        extra = "'score', round(m.score::numeric, 3), 'matched_name', m.matched_name,"
    else:
        source = "place AS p"
        sort_key = (
            "round((ST_Distance(p.geom::geography, ST_MakePoint(:lon, :lat)::geography))::numeric, 1)::float8"
            if near
            else "0::float8"
        )
        extra = ""
    if near:
        extra += "'distance_km', round((ST_Distance(p.geom::geography, ST_MakePoint(:lon, :lat)::geography) / 1000)::numeric, 2),"
    keyset = "WHERE (sort_key, id) > (:after_key, :after_id)" if after else ""
    where = f"WHERE {' AND '.join(filters)}" if filters else ""
    return f"""
        SELECT item, sort_key, id FROM (
            SELECT p.id, {sort_key} AS sort_key,
                   json_build_object(
                       'id', p.id, 'slug', p.slug, 'name', p.name, 'kind', p.kind, 'country_code', p.country_code,
                       {extra}
                       'location', ST_AsGeoJSON(p.geom, 5)::json)::text AS item
            FROM {source}
            {where}
        ) AS ranked
        {keyset}
        ORDER BY sort_key, id
        LIMIT :limit
    """


PLACE_DETAIL = text(f"""
    WITH {RESOLVED_PLACES_CTE}
    SELECT (SELECT count(*) FROM resolved) AS matches,
           (SELECT json_build_object(
                'id', p.id, 'slug', p.slug, 'name', p.name, 'kind', p.kind, 'country_code', p.country_code,
                'population', p.population,
                'location', ST_AsGeoJSON(p.geom, 5)::json,
                'parent', (SELECT json_build_object('id', x.id, 'slug', x.slug, 'name', x.name)
                           FROM place AS x WHERE x.id = p.parent_id),
                'children', coalesce((SELECT json_agg(json_build_object('id', x.id, 'slug', x.slug, 'name', x.name)
                                                      ORDER BY x.name)
                                      FROM place AS x WHERE x.parent_id = p.id), '[]'::json),
                'names', coalesce((SELECT json_agg(json_build_object('name', n.name, 'lang', n.lang) ORDER BY n.id)
                                   FROM place_name AS n WHERE n.place_id = p.id), '[]'::json))
            FROM place AS p
            WHERE p.id = (SELECT id FROM resolved) AND (SELECT count(*) FROM resolved) = 1)::text AS body
""")


async def place_json(conn: AsyncConnection, ref: str) -> bytes:
    """One place: location, kind, parent, children and every known spelling."""
    return (await one_place_json(conn, PLACE_DETAIL, ref)).encode()


async def one_place_json(conn: AsyncConnection, statement: Any, ref: str, **params: Any) -> str:
    """Run a statement built on RESOLVED_PLACES_CTE; raise 404/409 unless `ref` names exactly one place."""
    row = (await conn.execute(statement, {**ref_params(ref), **params})).one()
    if row.matches != 1:
        await refuse_place(conn, ref)
    body: str = row.body
    return body


async def refuse_place(conn: AsyncConnection, ref: str) -> None:
    """A statement found that `ref` names no place, or several: raise the problem that says which."""
    candidates = [dict(r._mapping) for r in await conn.execute(CANDIDATES, ref_params(ref))]
    await raise_unresolved(conn, ref, candidates)
