"""The state of every place on a date (GeoJSON), what changed between two dates, and who held how much."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from sqlalchemy import TextClause, text
from starlette.responses import Response

from app.api.caching import GEOJSON, cached
from app.api.deps import READ, ReadConnection
from app.api.params import (
    AsOfQuery,
    BBox,
    BboxQuery,
    DateQuery,
    decode_cursor,
    encode_cursor,
    parse_as_of,
    parse_bbox,
    parse_date,
    parse_date_range,
    parse_list,
)
from app.db.queries.as_of import ALL_PLACES, PLACES_IN_BBOX, as_of_sql
from app.db.queries.control import SUMMARY, changes_sql, control_map_sql
from app.schemas.control import ChangesRead, FeatureCollection

router = APIRouter(prefix="/v1", tags=["control"])
BAD_INPUT: dict[int | str, dict[str, Any]] = {
    400: {"description": "A parameter is invalid", "content": {"application/problem+json": {}}}
}
ActorQuery = Annotated[
    str | None, Query(description="Actor slug", openapi_examples={"IS": {"value": "islamic-state"}})
]


def statement(sql: str, as_of: datetime | None, box: BBox | None) -> TextClause:
    """The query as it stands, or answering from the record at `as_of` (periods derived for the bbox only)."""
    if as_of is None:
        return text(sql)
    return as_of_sql(sql, PLACES_IN_BBOX if box else ALL_PLACES)


@router.get(
    "/control",
    dependencies=READ,
    response_model=FeatureCollection,
    responses={**BAD_INPUT, 200: {"content": {GEOJSON: {}}}},
)
async def control_map(
    request: Request,
    conn: ReadConnection,
    at: DateQuery = None,
    bbox: BboxQuery = None,
    actor: ActorQuery = None,
    coalition: Annotated[str | None, Query(description="Coalition slug: places held by its members")] = None,
    kind: Annotated[str | None, Query(description="Comma-separated place kinds")] = None,
    as_of: AsOfQuery = None,
) -> Response:
    """Every place's state on a date, as a GeoJSON FeatureCollection ready for a map."""
    on, box, kinds = parse_date("at", at, default=date.today()), parse_bbox(bbox), parse_list(kind)
    moment = parse_as_of(as_of)
    sql = control_map_sql(
        bbox=box is not None,
        actor=actor is not None,
        coalition=coalition is not None,
        kinds=kinds is not None,
    )
    params: dict[str, object] = {"at": on, "actor": actor, "coalition": coalition, "kinds": kinds}
    if box:
        params |= box.params()
    body = await conn.scalar(statement(sql, moment, box), {**params, "as_of": moment})
    return cached(request, body, on, media_type=GEOJSON)


@router.get("/changes", response_model=ChangesRead, dependencies=READ, responses=BAD_INPUT)
async def changes(
    request: Request,
    conn: ReadConnection,
    from_: Annotated[
        str | None,
        Query(alias="from", description="YYYY-MM-DD", openapi_examples={"Dec 2016": {"value": "2016-12-01"}}),
    ] = None,
    to: Annotated[
        str | None, Query(description="YYYY-MM-DD", openapi_examples={"Jan 2017": {"value": "2017-01-31"}})
    ] = None,
    bbox: BboxQuery = None,
    actor: ActorQuery = None,
    limit: Annotated[int, Query(ge=1, le=5000, description="Places per page")] = 500,
    cursor: Annotated[str | None, Query(description="From the `next` link of the previous page")] = None,
    as_of: AsOfQuery = None,
) -> Response:
    """Places whose holder or status differs between two dates, each with before, after and the events between."""
    start, end = parse_date_range(from_, to)
    moment = parse_as_of(as_of)
    box, after = parse_bbox(bbox), decode_cursor(cursor, 1)
    sql = changes_sql(bbox=box is not None, actor=actor is not None, after=after is not None)
    params: dict[str, object] = {"from": start, "to": end, "actor": actor, "limit": limit + 1}
    if box:
        params |= box.params()
    if after:
        params["after_id"] = int(after[0])
    rows = (await conn.execute(statement(sql, moment, box), {**params, "as_of": moment})).all()
    next_link = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_link = str(request.url.include_query_params(cursor=encode_cursor([rows[-1].id])))
    head = orjson.dumps({"from": start, "to": end}).decode()[:-1]
    body = (
        head
        + ',"changes":['
        + ",".join(row.item for row in rows)
        + '],"next":'
        + orjson.dumps(next_link).decode()
        + "}"
    )
    return cached(request, body, start, end)


@router.get("/summary", dependencies=READ)
async def summary(
    request: Request, conn: ReadConnection, at: DateQuery = None, as_of: AsOfQuery = None
) -> Response:
    """Per actor and coalition on a date: places held (by kind), places contested, and area held in km²."""
    on, moment = parse_date("at", at, default=date.today()), parse_as_of(as_of)
    statement = SUMMARY if moment is None else as_of_sql(SUMMARY.text)
    return cached(request, await conn.scalar(statement, {"at": on, "as_of": moment}), on)
