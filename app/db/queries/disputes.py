"""The disputed periods: where sources disagree about who held a place, and on which days, with the rival
claims. A page of them in place order, from the stored periods (or, with `confidence=`, from those derived
from the surer events at read time)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.queries.as_of import ALL_PLACES, PLACES_IN_BBOX, at_moment
from app.db.queries.control import ALTERNATIVES, PERIOD_PARTIES
from app.db.queries.filters import IN_BBOX, DisputesFilter, Page
from app.db.queries.pages import page_body

# A period's first day as a number, for the keyset cursor (place, day).
DAY_NUMBER = "(lower(cp.valid) - DATE '0001-01-01')"


def disputes_sql(*, bbox: bool, after: bool) -> str:
    """Disputed periods overlapping [:from, :to], by place and first day (ix_control_period_disputed)."""
    filters = ["cp.disputed", "cp.valid && daterange(CAST(:from AS date), CAST(:to AS date), '[]')"]
    if bbox:
        filters.append(IN_BBOX)
    if after:
        filters.append(
            f"(cp.place_id, {DAY_NUMBER}) > (CAST(:after_place AS integer), CAST(:after_day AS bigint))"
        )
    return f"""
        SELECT cp.place_id, {DAY_NUMBER} AS day, json_build_object(
            'place', json_build_object('id', p.id, 'slug', p.slug, 'name', p.name, 'kind', p.kind,
                                       'location', ST_AsGeoJSON(p.geom, 5)::json),
            'since', lower(cp.valid), 'until', upper(cp.valid), 'status', cp.status,
            'controller', (SELECT json_build_object('slug', x.slug, 'name', x.name) FROM actor AS x
                           WHERE x.id = cp.actor_id),
            'parties', {PERIOD_PARTIES},
            'confidence', cp.confidence, 'event_id', cp.control_event_id,
            'alternatives', {ALTERNATIVES.format(p="cp")})::text AS item
        FROM control_period AS cp
        JOIN place AS p ON p.id = cp.place_id
        WHERE {" AND ".join(filters)}
        ORDER BY cp.place_id, lower(cp.valid)
        LIMIT :limit
    """


async def disputes_json(conn: AsyncConnection, where: DisputesFilter, page: Page) -> bytes:
    """A page of the disputed periods between two dates, each with the state it resolved to and its rivals."""
    params: dict[str, object] = {
        "from": where.start,
        "to": where.end,
        "limit": page.limit + 1,
        "confidence": where.confidence,
    }
    if where.bbox:
        params |= where.bbox.params()
    if page.after:
        params["after_place"], params["after_day"] = page.after
    sql = disputes_sql(bbox=where.bbox is not None, after=page.after is not None)
    statement = at_moment(sql, None, PLACES_IN_BBOX if where.bbox else ALL_PLACES, where.confidence)
    rows = (await conn.execute(statement, params)).all()
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    return page_body(
        [row.item for row in rows],
        [rows[-1].place_id, rows[-1].day] if more else None,
        page,
        name="disputes",
        head={"from": where.start, "to": where.end},
    )
