"""Dependencies shared by the routers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.api.auth import read_access
from app.api.caching import FILL, observed_version
from app.api.params import parse_wal_position
from app.db.queries.data_version import version_on
from app.db.reads import ReadConnection as Reads
from app.db.replicas import ReadRouting

# The request header a read names a position with (the same a write answers with: app/api/replication.py).
POSITION_HEADER = "Territory-LSN"
PositionHeader = Annotated[
    str | None,
    Header(
        alias=POSITION_HEADER,
        description="The Territory-LSN a write answered with: this read then sees that write (it is served by "
        "a database that has replayed it). Without it a read may come from a replica a little behind.",
        openapi_examples={"after a write": {"value": "0/3000148"}},
    ),
]


async def read_connection(
    request: Request, position: PositionHeader = None
) -> AsyncIterator[AsyncConnection]:
    """What reads run their statements on (app/db/reads.py): each statement checks out a pooled connection of
    the chosen database's read engine while it runs, in autocommit mode. Through PgBouncer, a connection of the
    engine as it is: there a read runs in a transaction that sets its timeouts (app/db/engine.py).

    With read replicas, from the database app/db/replicas.py chooses: a healthy replica that has replayed the
    position the request names, else the primary. When the replica fails during the read, it is marked down and
    the request is answered again from the start on another database (app/api/replication.py)."""
    wanted = parse_wal_position(POSITION_HEADER, position)
    routing: ReadRouting | None = request.app.state.read_routing
    pgbouncer: bool = request.app.state.settings.pgbouncer
    if routing is None:
        async with connected(request.app.state.read_engine, pgbouncer) as connection:
            yield connection
        return
    state = request.state
    database = routing.choose(
        wanted,
        avoid=getattr(state, "read_avoid", ()),
        primary=getattr(state, "reads_on_primary", False),
    )
    state.served_by = database.name
    try:
        async with connected(database.engine, pgbouncer) as connection:
            if database is not routing.primary and request.scope.get(FILL) is not None:
                # The answer may be kept (app/api/caching.py): as of the version this replica had replayed
                # before the answer was read (it only moves forward), which may be older than the one the
                # process follows.
                observed_version(request, await version_on(connection))
            yield connection
    except Exception as exc:
        if routing.failed(database, exc):
            state.read_avoid = {*getattr(state, "read_avoid", ()), database.name}
            state.read_retry = True
        raise


@contextlib.asynccontextmanager
async def connected(engine: AsyncEngine, pgbouncer: bool) -> AsyncIterator[AsyncConnection]:
    """The direct read connection (app/db/reads.py); through PgBouncer, one of the engine as it is."""
    if pgbouncer:
        async with engine.connect() as connection:
            yield connection
    else:
        yield Reads(engine)


async def reads_on_primary(request: Request) -> None:
    """For a read that must see what the primary has now: the event stream, whose positions the primary's
    notifications hand out, resumes from them."""
    request.state.reads_on_primary = True


ReadConnection = Annotated[AsyncConnection, Depends(read_connection)]
# Every read route's dependency: reads follow TERRITORY_REQUIRE_READ_KEY; writes check their own key's scope.
READ = [Depends(read_access)]
ON_PRIMARY = Depends(reads_on_primary)
