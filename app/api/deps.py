"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncConnection

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


async def read_connection(request: Request, position: PositionHeader = None) -> AsyncConnection:
    """What reads run their statements on (app/db/reads.py): each statement checks out a pooled connection of
    the chosen database's read engine while it runs, in autocommit mode; through PgBouncer, a connection of the
    engine as it is, in a transaction that sets its timeouts (app/db/engine.py).

    With read replicas, from the database app/db/replicas.py chooses: a healthy replica that has replayed the
    position the request names, else the primary. When the replica fails under a statement, it is marked down
    and the request is answered again from the start on another database (app/api/replication.py).

    A read's key is admitted here first, when reads need one (`read_access`): every read but a few that never
    reach the database takes this dependency, and a separate one cost FastAPI ~9 µs of solving a request even
    when it had nothing to do. Those few take `READ`.

    A plain function, not a generator: FastAPI's handling of a `yield` dependency cost ~30 µs a request more,
    and the connection itself reports a failed statement (`on_failure`)."""
    await read_access(request)
    wanted = parse_wal_position(POSITION_HEADER, position)
    app_state = request.app.state
    routing: ReadRouting | None = app_state.read_routing
    direct = not app_state.settings.pgbouncer
    if routing is None:
        return Reads(app_state.read_engine, direct=direct)
    state = request.state
    database = routing.choose(
        wanted,
        avoid=getattr(state, "read_avoid", ()),
        primary=getattr(state, "reads_on_primary", False),
    )
    state.served_by = database.name

    def failed(exc: Exception) -> None:
        if routing.failed(database, exc):
            state.read_avoid = {*getattr(state, "read_avoid", ()), database.name}
            state.read_retry = True

    connection = Reads(database.engine, direct=direct, on_failure=failed)
    if database is not routing.primary and request.scope.get(FILL) is not None:
        # The answer may be kept (app/api/caching.py): as of the version this replica had replayed before the
        # answer was read (it only moves forward), which may be older than the one the process follows.
        observed_version(request, await version_on(connection))
    return connection


async def reads_on_primary(request: Request) -> None:
    """For a read that must see what the primary has now: the event stream, whose positions the primary's
    notifications hand out, resumes from them."""
    request.state.reads_on_primary = True


ReadConnection = Annotated[AsyncConnection, Depends(read_connection)]
# Reads follow TERRITORY_REQUIRE_READ_KEY (writes check their own key's scope): through their ReadConnection, or
# this on a read that takes none (the export, OGC pages answered without the database). Both admit a key once.
READ = [Depends(read_access)]
ON_PRIMARY = Depends(reads_on_primary)
