"""Exports for analysts who take the data away: the streamed answer every exporting route returns, and
`/v1/export`, the dataset of a date in one call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response, StreamingResponse

from app.api.caching import cache_headers, etag_matches
from app.api.deps import READ
from app.api.filters import OnDate
from app.api.formats import (
    CSV,
    EXPORT_CONTENT,
    EXPORTS,
    EXTENSIONS,
    GEOPACKAGE,
    NOT_ACCEPTABLE,
    PROBLEM,
    negotiate,
)
from app.api.limits import asked_head
from app.api.streams import head_answer, unsent
from app.db.queries.exports import Rows, dataset_rows
from app.db.queries.filters import AreaFilter, ChangesFilter, ControlFilter
from app.db.queries.references import Kind, resolve
from app.errors import InvalidParameter
from app.services.exports import export

router = APIRouter(prefix="/v1", tags=["exports"])

# What a text export's media type says about itself (RFC 4180 §3 for CSV).
PARAMETERS = {CSV: "; charset=utf-8; header=present"}


Filter = TypeVar("Filter", ControlFilter, ChangesFilter, AreaFilter)


async def with_slugs(conn: AsyncConnection, where: Filter) -> Filter:
    """The filter with its actor and coalition references resolved to slugs, before the stream starts: one
    that names nothing is a 404 with suggestions, as the JSON answer gives."""
    slugs = {}
    kinds: tuple[Kind, ...] = ("actor", "coalition")
    for kind in kinds:
        if (ref := getattr(where, kind, None)) is not None:
            slugs[kind] = (await resolve(conn, kind, ref, field=kind, location="query"))["slug"]
    return replace(where, **slugs)


async def export_response(
    request: Request, media_type: str, tables: Sequence[Rows], name: str, *, as_of: datetime | None = None
) -> Response:
    """The export streamed as a download, with the Cache-Control of the JSON answers. Only FlatGeobuf and
    GeoPackage carry an ETag (and answer 304): both are complete before their first byte is sent, while
    hashing a text stream would mean holding it all before sending any."""
    state = request.app.state
    settings = state.settings
    result = await export(
        state.read_engine,
        media_type,
        tables,
        timeout=settings.export_timeout_seconds,
        batch=settings.stream_batch_rows,
    )
    headers = cache_headers(state.settings, as_of=as_of)
    headers["Vary"] = ", ".join(filter(None, (headers.get("Vary"), "Accept")))
    headers["Content-Disposition"] = f'attachment; filename="{name}.{EXTENSIONS[media_type]}"'
    if result.etag is not None:
        headers["ETag"] = result.etag
        if (if_none_match := request.headers.get("if-none-match")) and etag_matches(
            if_none_match, result.etag
        ):
            await result.chunks.aclose()
            return Response(status_code=304, headers=headers)
    media_type += PARAMETERS.get(media_type, "")
    if asked_head(request.scope):  # read up to the first batch (a FlatGeobuf or GeoPackage is whole already)
        await unsent(result.chunks)
        return head_answer(media_type, headers)
    return StreamingResponse(result.chunks, media_type=media_type, headers=headers)


EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": EXPORT_CONTENT, "description": "The dataset of the date, as a download"},
    400: {"description": "A parameter is invalid", **PROBLEM},
    **NOT_ACCEPTABLE,
}
MULTI_TABLE = {GEOPACKAGE}
INCLUDABLE = ("events", "territories")


@router.get("/export", dependencies=READ, response_class=StreamingResponse, responses=EXPORT_RESPONSES)
async def get_export(
    request: Request,
    at: OnDate,
    format_: Annotated[
        str | None,
        Query(
            alias="format",
            description=f"{', '.join(EXPORTS)} (or the Accept header)",
            openapi_examples={"GeoPackage": {"value": "gpkg"}},
        ),
    ] = None,
    include: Annotated[
        str | None,
        Query(
            description="events, territories or both (comma-separated): also the events up to the date and "
            "the territories in force on it, one layer each (a GeoPackage holds several tables, the other "
            "formats one)",
            openapi_examples={"both": {"value": "events,territories"}},
        ),
    ] = None,
) -> Response:
    """The dataset of a date in one download: every place with its state, and optionally events and territories."""
    media_type = negotiate(request, format_, EXPORTS)
    layers = sorted({name.strip() for name in (include or "").split(",") if name.strip()})
    if unknown := [name for name in layers if name not in INCLUDABLE]:
        raise InvalidParameter(
            "include", f"'{unknown[0]}' is not a table; include may name events, territories"
        )
    if layers and media_type not in MULTI_TABLE:
        raise InvalidParameter(
            "include",
            f"{format_ or media_type} holds one table: format=gpkg holds places, events and territories "
            "together; or fetch /v1/events and /v1/territories with the same format",
        )
    return await export_response(request, media_type, dataset_rows(at, layers), f"territory-{at}")
