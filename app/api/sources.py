"""Sources events and memberships cite: read them; add and correct them with an `ingest` key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from app.api.auth import IngestKey
from app.api.caching import cached
from app.api.deps import ReadConnection
from app.api.filters import AsOf, HistoryPage
from app.api.responses import CREATED, PROBLEM, write, write_problems
from app.db.queries.history import history_json
from app.db.queries.references import resolve
from app.schemas.history import ResourceHistory
from app.schemas.sources import SourceCreate, SourceDetail, SourcePatch, SourceRead, SourceWritten
from app.services import registry as service

router = APIRouter(prefix="/v1", tags=["sources"])
Slug = Annotated[str, Path(max_length=120, description="The slug")]


@router.get("/sources", response_model=list[SourceRead])
async def list_sources(request: Request, conn: ReadConnection, as_of: AsOf) -> Response:
    """Every source events and memberships may cite, by slug."""
    return cached(request, await service.sources_json(conn, as_of=as_of), as_of=as_of)


@router.get(
    "/sources/{slug}",
    response_model=SourceDetail,
    responses={404: {"description": "No source has that slug", **PROBLEM}},
)
async def get_source(request: Request, conn: ReadConnection, slug: Slug, as_of: AsOf) -> Response:
    """One source, with how many events and memberships cite it."""
    return cached(request, await service.source_json(conn, slug, as_of=as_of), as_of=as_of)


@router.post(
    "/sources",
    response_model=SourceWritten,
    status_code=201,
    responses={**CREATED, **write_problems("ingest", {409: "The slug is stored with other content"})},
)
async def create_source(request: Request, source: SourceCreate, key: IngestKey) -> Response:
    """Add a source that events and memberships can cite by its slug."""
    return await write(
        request, lambda conn: service.create_source(conn, source, key=key), "/v1/sources/{slug}"
    )


@router.patch(
    "/sources/{slug}",
    response_model=SourceWritten,
    responses=write_problems("ingest", {404: "No source has that slug"}),
)
async def correct_source(request: Request, slug: Slug, patch: SourcePatch, key: IngestKey) -> Response:
    """Correct a source: the fields given replace the stored ones."""
    return await write(
        request, lambda conn: service.correct_source(conn, slug, patch, key=key), "/v1/sources/{slug}"
    )


@router.get(
    "/sources/{slug}/history",
    response_model=ResourceHistory,
    responses={
        404: {"description": "No source has that slug", **PROBLEM},
        400: {"description": "A bad cursor or limit", **PROBLEM},
    },
)
async def get_source_history(
    request: Request, conn: ReadConnection, slug: Slug, page: HistoryPage
) -> Response:
    """Every version of a source, oldest first: what it said and when it was the record."""
    source = await resolve(conn, "source", slug, field="slug")
    return cached(
        request, await history_json(conn, "source", source["id"], page, head={"slug": source["slug"]})
    )
