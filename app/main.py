"""The FastAPI application: `create_app()` builds it; uvicorn runs it as a factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from app.api import (
    actors,
    control,
    events,
    exports,
    health,
    map_data,
    ogc,
    places,
    sources,
    territories,
    tiles,
)
from app.api.caching import CacheMiddleware, DataVersion, ResponseCache
from app.api.compression import GzipByEncoding
from app.api.limits import RequestGuard
from app.api.openapi import openapi_document, operation_id
from app.api.pages import install_browser_side
from app.api.replication import Replication
from app.db.engine import (
    create_engines,
    create_keys_engine,
    create_read_routing,
    read_only,
    resolve_database_url,
)
from app.errors import install_problem_handlers
from app.services import feed
from app.settings import Settings, get_settings

DESCRIPTION = """
Who controls which place when, in the war against Islamic State in Syria and Iraq (2014–2017) and beyond:
places and their spellings, armed actors and their coalitions over time, control events with their sources, and
the control periods the database derives from them.

Dates are calendar dates and periods are half-open `[since, until)`: on the day of a capture the new holder
holds the place. GeoJSON is longitude, latitude (RFC 7946). Errors are RFC 9457 problem details.

A write answers `Territory-LSN`, the position it committed at; a read that sends it back (request header
`Territory-LSN`) sees that write, even when reads are served by replicas a little behind the primary.
"""


def calm_garbage_collector() -> None:
    """Keep Python's cycle collector off the tail latency.

    A full collection walks every object alive: the app's modules, routes and schemas, hundreds of thousands of
    them, for 60-80 ms, every few thousand requests (it was the whole of the p99 of a one-row answer). Objects
    alive at start-up are frozen out of collection, and the young generation is collected less often: the
    requests' own garbage is freed by reference counting, cycles are rare.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = resolve_database_url(settings)
        writes, reads = create_engines(settings, url)
        app.state.engine, app.state.read_engine = writes, read_only(reads, pgbouncer=settings.pgbouncer)
        app.state.keys_engine = create_keys_engine(settings, url)
        # Replicas serve the plain reads; the primary's read pool keeps what must see the latest (the event
        # stream, exports) and every read when no replica is healthy. Keys are admitted on the primary.
        app.state.read_routing = create_read_routing(settings, url, app.state.read_engine)
        if app.state.read_routing is not None:
            await app.state.read_routing.start()
        calm_garbage_collector()
        if settings.response_cache_bytes:
            app.state.data_version.start(feed.shared_listener(app.state))
        try:
            yield
        finally:
            await app.state.data_version.stop()
            if app.state.read_routing is not None:
                await app.state.read_routing.close()
            await feed.shared_listener(app.state).close()
            await writes.dispose()
            await reads.dispose()
            await app.state.keys_engine.dispose()

    app = FastAPI(
        title="Territory",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        docs_url=None,  # served from the app's own assets (app/api/pages.py), not a CDN
        redoc_url=None,
        # FastAPI's own OpenTelemetry looks for providers anew on every request (three environment lookups and a
        # provider check: ~5 µs of a one-place read); TERRITORY_TELEMETRY turns it on where they are configured.
        telemetry={"tracing": settings.telemetry, "metrics": settings.telemetry, "logs": settings.telemetry},
    )
    app.openapi = partial(openapi_document, app)  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.read_routing = None  # without replicas: every read on the primary's read pool
    install_problem_handlers(app)
    # Innermost: a read it answers again runs only the route again.
    app.add_middleware(Replication)
    # Inside the guard, so that HEAD (answered as GET there) gets GET's encoding and ETag.
    app.add_middleware(GzipByEncoding)
    app.state.data_version = DataVersion(check_every=settings.data_version_check_seconds)
    if settings.response_cache_bytes:
        # Between the guard and gzip: HEAD is a GET by then, and the encoded bytes are kept.
        app.add_middleware(
            CacheMiddleware,
            settings=settings,
            versions=app.state.data_version,
            store=ResponseCache(settings.response_cache_bytes),
        )
    app.add_middleware(RequestGuard, max_bytes=settings.max_body_bytes)
    app.include_router(health.router)
    # Reads follow the read-key setting (deps.ReadConnection admits the key, or deps.READ where there is none);
    # writes check their own key's scope.
    for module in (places, control, actors, sources, events, territories, tiles, ogc, map_data, exports):
        app.include_router(module.router)
    install_browser_side(app, settings)
    return app
