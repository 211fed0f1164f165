"""Place reads: search, and one place's detail (references are resolved by app/db/queries/references.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries.as_of import at_moment, statement_at
from app.db.queries.filters import IN_BBOX, OF_KINDS, Page, PlaceSearch
from app.db.queries.pages import page_body
from app.db.queries.references import RESOLVED_PLACES_CTE, ref_params, refuse_place


async def search_places_json(
    conn: AsyncConnection, where: PlaceSearch, page: Page, *, as_of: datetime | None = None
) -> bytes:
    """A page of places matching the search, ranked (by similarity, distance or id), with its `next` link
    (over the places and spellings recorded at `as_of` when given)."""
    sql = search_sql(
        q=bool(where.q),
        near=where.near is not None,
        bbox=where.bbox is not None,
        kinds=where.kinds is not None,
        after=page.after is not None,
        review=where.review,
    )
    params: dict[str, object] = {
        "q": where.q,
        "kinds": list(where.kinds) if where.kinds is not None else None,
        "limit": page.limit + 1,
        "as_of": as_of,
    }
    if where.near:
        params |= {"lon": where.near.lon, "lat": where.near.lat, "radius_m": where.radius_km * 1000}
    if where.bbox:
        params |= where.bbox.params()
    if page.after:
        params |= {"after_key": float(page.after[0]), "after_id": int(page.after[1])}
    rows = (await conn.execute(at_moment(sql, as_of), params)).all()
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return page_body([row.item for row in rows], [rows[-1].sort_key, rows[-1].id] if more else None, page)


# The forms of :q the search compares, computed once per statement (a MATERIALIZED CTE read by scalar subqueries,
# so each is one InitPlan): the statement's plan then does not depend on the query's value, so PostgreSQL settles
# on one generic plan for a prepared statement instead of planning every execution (1-2 ms: constant-folding the
# regular expressions and estimating each probe from the statistics, 4-6× the execution of most searches), and
# the similarity of each spelling is taken to a constant (a generic plan of `similarity(n.name_norm,
# territory_normalize(:q))` normalises :q again for every row). The page size is one too: a `LIMIT :limit` that a
# custom plan knows and the generic one does not makes their costs differ, and PostgreSQL then keeps planning.
SOUGHT_CTE = """sought AS MATERIALIZED (
    SELECT territory_normalize(:q) AS norm, territory_name_key(:q) AS key,
           territory_name_key(:q) || chr(1114111) AS key_end, territory_name_skeleton(:q) AS skeleton,
           territory_one_letter_off(territory_normalize(:q)) AS forms, CAST(:limit AS integer) AS page_rows
)"""
NORM, KEY, KEY_END, SKELETON, FORMS = (
    f"(SELECT {column} FROM sought)" for column in ("norm", "key", "key_end", "skeleton", "forms")
)

# The spellings close to :q, each set one index probe (revision 0014): the article-less key starts with the
# query's (a range of the key's text_pattern_ops btree: "Kafr Ba", "al-Saar" = "Saar..."), one letter off it
# (missing, extra, wrong, two swapped: a shared form of territory_one_letter_off), or the same consonant
# skeleton (transliterations: Tadmor/Tadmur, Deir Hafer/Dayr Hafir); a query of punctuation alone (key '') starts
# every key and has no skeleton, so neither set takes it. UNION ALL: a spelling found twice counts once
# in the ranking (DISTINCT ON its place), so nothing is deduplicated here.
CLOSE_SPELLINGS = f"""
    SELECT n.id, n.place_id, n.name, n.name_norm FROM place_name AS n
    WHERE n.name_key ~>=~ {KEY} AND n.name_key ~<~ {KEY_END} AND {KEY} <> ''
    UNION ALL
    SELECT n.id, n.place_id, n.name, n.name_norm FROM place_name AS n
    WHERE territory_one_letter_off(n.name_norm) && {FORMS}
    UNION ALL
    SELECT n.id, n.place_id, n.name, n.name_norm FROM place_name AS n
    WHERE territory_name_skeleton(n.name) = {SKELETON} AND {SKELETON} <> ''
"""
# The loose ones, pg_trgm's: similar (`%`, trigram similarity >= 0.3) or holding a stretch like the query
# (`<%`, word similarity >= 0.6). Two index searches, not one OR: under an OR the trigram index's loose
# candidates of either operator are rechecked with both.
LOOSE_SPELLINGS = f"""
    SELECT n.id, n.place_id, n.name, n.name_norm FROM place_name AS n WHERE n.name_norm % {NORM}
    UNION
    SELECT n.id, n.place_id, n.name, n.name_norm FROM place_name AS n WHERE {NORM} <% n.name_norm
"""


def search_sql(
    *, q: bool, near: bool, bbox: bool, kinds: bool, after: bool, review: bool | None = None
) -> str:
    """Place search, ranked by similarity to `q` (or by distance to `near`, or by id), with a keyset cursor.

    With `q`, the places are those with a spelling close to it (CLOSE_SPELLINGS) when any is, else those
    with a loosely similar one (LOOSE_SPELLINGS), within the other filters; ranked by the trigram similarity
    of their most similar spelling, then id. The close matches are index probes whose cost follows what they
    find, not the size of the gazetteer; a trigram scan rechecks every spelling sharing a few trigrams with
    the query (with "al" in it, half of them), so it runs only when nothing is close.

    Each row carries its sort key (`sort_key`, `id`) so the caller can hand out the next cursor; the JSON is
    built for the page's rows only.
    """
    filters = []
    if bbox:
        filters.append(IN_BBOX)
    if near:
        filters.append("ST_DWithin(p.geom::geography, ST_MakePoint(:lon, :lat)::geography, :radius_m)")
    if kinds:
        filters.append(OF_KINDS)
    if review is not None:
        filters.append("p.review IS NOT NULL" if review else "p.review IS NULL")
    where = " AND ".join(filters) or "true"
    if q:
        # Which set answers does not depend on the page (the NOT EXISTS is one test of the whole close set), so
        # every page ranks the same places. DISTINCT ON keeps each place's most similar spelling.
        # The filters as a probe of each match's place: a join would be planned from the estimates of the
        # forms one letter off (thousands of rows, where a query finds a few) as a hash join over every place.
        in_filters = f"WHERE (SELECT {where} FROM place AS p WHERE p.id = n.place_id)" if filters else ""
        source = f"""
            (SELECT DISTINCT ON (n.place_id) n.place_id, n.name AS matched_name,
                    similarity(n.name_norm, {NORM}) AS score
             FROM (WITH close AS MATERIALIZED (
                       SELECT n.place_id, n.name, n.name_norm FROM ({CLOSE_SPELLINGS}) AS n {in_filters})
                   SELECT place_id, name, name_norm FROM close
                   UNION ALL
                   SELECT n.place_id, n.name, n.name_norm FROM ({LOOSE_SPELLINGS}) AS n {in_filters}
                   {"AND" if filters else "WHERE"} NOT EXISTS (SELECT FROM close)) AS n
             ORDER BY n.place_id, score DESC, n.name) AS m
        """
        where = "true"
        key = "m.place_id"
        sort_key = "round((-m.score)::numeric, 6)::float8"
        columns = ", m.score, m.matched_name"
        extra = "'score', round(top.score::numeric, 3), 'matched_name', top.matched_name,"
    else:
        source = "place AS p"
        key = "p.id"
        sort_key = (
            "round((ST_Distance(p.geom::geography, ST_MakePoint(:lon, :lat)::geography))::numeric, 1)::float8"
            if near
            else "0::float8"
        )
        columns = ""
        extra = ""
    if near:
        extra += "'distance_km', round((ST_Distance(p.geom::geography, ST_MakePoint(:lon, :lat)::geography) / 1000)::numeric, 2),"
    keyset = "WHERE (sort_key, id) > (:after_key, :after_id)" if after else ""
    return f"""
        {f"WITH {SOUGHT_CTE}" if q else ""}
        SELECT json_build_object(
                   'id', p.id, 'slug', p.slug, 'name', p.name, 'kind', p.kind, 'country_code', p.country_code,
                   'review', p.review, {extra}
                   'location', ST_AsGeoJSON(p.geom, 5)::json)::text AS item,
               top.sort_key, top.id
        FROM (SELECT * FROM (SELECT {key} AS id, {sort_key} AS sort_key{columns} FROM {source} WHERE {where}) AS ranked
              {keyset}
              ORDER BY sort_key, id
              LIMIT {"(SELECT page_rows FROM sought)" if q else ":limit"}) AS top
        JOIN place AS p ON p.id = top.id
        ORDER BY top.sort_key, top.id
    """


PLACE_DETAIL = text(f"""
    WITH {RESOLVED_PLACES_CTE}
    SELECT (SELECT count(*) FROM resolved) AS matches,
           (SELECT json_build_object(
                'id', p.id, 'slug', p.slug, 'name', p.name, 'kind', p.kind, 'country_code', p.country_code,
                'population', p.population, 'review', p.review,
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


async def place_json(conn: AsyncConnection, ref: str, *, as_of: datetime | None = None) -> bytes:
    """One place: location, kind, parent, children and every known spelling (as recorded at `as_of`)."""
    params = {} if as_of is None else {"as_of": as_of}
    return (await one_place_json(conn, statement_at(PLACE_DETAIL, as_of), ref, **params)).encode()


async def one_place_json(conn: AsyncConnection, statement: Any, ref: str, **params: Any) -> str:
    """Run a statement built on RESOLVED_PLACES_CTE; raise 404/409 unless `ref` names exactly one place."""
    row = (await conn.execute(statement, {**ref_params(ref), **params})).one()
    if row.matches != 1:
        await refuse_place(conn, ref)
    body: str = row.body
    return body
