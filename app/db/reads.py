"""The connection reads are handed: SQLAlchemy's AsyncConnection interface, whose `text()` statements run on
asyncpg directly, each on a pooled connection checked out for that statement alone.

Why: a one-row read spent more time in SQLAlchemy's execution machinery (compiled-cache lookup, execution context,
cursor adaptation, result metadata, greenlet hops) and in FastAPI's handling of a `yield` dependency than in the
driver (README, "Speed"). The statements of `app/db/queries` are `text()` with named parameters: each is
compiled once for asyncpg's `$n` style, then runs with `asyncpg.Connection.fetch`, which keeps a prepared
statement per query text on each connection (one Bind/Execute round trip; TERRITORY_PGBOUNCER turns that
off, and each statement then runs through SQLAlchemy on a connection of its own, in a transaction that sets its
timeouts: app/db/engine.py). The rows come back as SQLAlchemy rows, so the query code is the same whichever
connection runs it. Anything else (a Core construct, typed or expanding parameters,
execution options) runs through SQLAlchemy as before.

A statement checks out a connection only while it runs: reads are autocommit, so each statement was its own
snapshot anyway, and a request holds no connection while it parses, waits on the client or streams. The
pool, its size and timeout, and the session settings (statement timeout...) are the read engine's. A direct
statement takes the pool's DBAPI connection itself, in one greenlet with the statement (checkout, fetch,
checkin: ~15 µs; an `AsyncConnection` around it cost ~45 µs).

A statement marked `GENERIC_PLAN` runs with its generic plan forced (`plan_cache_mode` set in a transaction of
its own): PostgreSQL re-plans a prepared statement at every run while its generic plan is estimated dearer than
the custom ones, and a read of one place derived at read time (app/db/queries/as_of.py) spent ~10 ms planning
for ~2 ms of work at 100,000 places.

A statement that fails tells `on_failure` (the read replicas' routing, app/api/deps.py) before it raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, cast

import asyncpg
from sqlalchemy import TextClause
from sqlalchemy.engine import Connection, CursorResult, Dialect, Engine
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import await_only, greenlet_spawn

# The execution option marking a statement to run with its generic plan (see the module's text).
GENERIC_PLAN = "generic_plan"
FORCE_GENERIC_PLAN = "SET LOCAL plan_cache_mode = force_generic_plan"


@lru_cache(maxsize=1024)
def positional(statement: TextClause, dialect: Dialect) -> tuple[str, tuple[str, ...]] | None:
    """The statement as asyncpg takes it ($1, $2...) and its parameter names in order; None when it needs
    SQLAlchemy at run time (typed parameters with processors, expanding lists, values bound in advance)."""
    compiled = statement.compile(dialect=dialect)
    if compiled._bind_processors or compiled.literal_execute_params or compiled.post_compile_params:
        return None
    if any(bind.value is not None or bind.callable is not None for bind in compiled.binds.values()):
        return None
    return compiled.string, tuple(compiled.positiontup or ())


@lru_cache(maxsize=256)
def metadata(keys: tuple[str, ...]) -> SimpleResultMetaData:
    return SimpleResultMetaData(keys)


def direct_plan(
    statement: Any, parameters: Any, options: Any, dialect: Dialect
) -> tuple[str, list[Any], bool] | None:
    """The SQL and positional values to run on asyncpg, and whether with its generic plan; or None when
    SQLAlchemy must run the statement."""
    marks = statement._execution_options if type(statement) is TextClause else None
    if marks is None or options or (marks and marks.keys() - {GENERIC_PLAN}):
        return None
    if parameters is not None and not isinstance(parameters, Mapping):  # executemany
        return None
    plan = positional(statement, dialect)
    if plan is None:
        return None
    sql, names = plan
    values = parameters or {}
    return sql, [values[name] for name in names], bool(marks and marks.get(GENERIC_PLAN))


async def fetch(driver: asyncpg.Connection, sql: str, values: list[Any]) -> CursorResult[Any]:
    records = await driver.fetch(sql, *values)
    keys = tuple(records[0].keys()) if records else ()
    # The buffered rows as SQLAlchemy's Result (one(), all(), scalar(), mappings(), rows by attribute): what
    # AsyncConnection.execute answers, less the cursor (reads ask no rowcount).
    return cast(CursorResult[Any], IteratorResult(metadata(keys), iter(records)))


async def fetch_generic(driver: asyncpg.Connection, sql: str, values: list[Any]) -> CursorResult[Any]:
    """`fetch` with the statement's generic plan: made at its first run on the connection, then kept."""
    async with driver.transaction():
        await driver.execute(FORCE_GENERIC_PLAN)
        return await fetch(driver, sql, values)


class ReadConnection(AsyncConnection):
    """See the module's text. Made on an engine, it checks out a connection per statement; made on a started
    connection (`pinned`: the tests' connection, inside the transaction they roll back), it runs there.
    `direct=False` (PgBouncer): every statement runs through SQLAlchemy, on a connection of its own.

    It only runs statements: it holds no transaction and streams nothing (exports open their own)."""

    __slots__ = ("direct", "on_failure")

    def __init__(
        self,
        engine: AsyncEngine,
        pinned: AsyncConnection | None = None,
        *,
        direct: bool = True,
        on_failure: Callable[[Exception], None] | None = None,
    ) -> None:
        super().__init__(engine, pinned.sync_connection if pinned is not None else None)
        self.direct, self.on_failure = direct, on_failure

    async def execute(
        self, statement: Any, parameters: Any = None, *, execution_options: Any = None
    ) -> CursorResult[Any]:
        try:
            if self.sync_connection is not None:
                return await run(self, statement, parameters, execution_options)
            sync_engine = self.sync_engine
            if self.direct and (
                plan := direct_plan(statement, parameters, execution_options, sync_engine.dialect)
            ):
                return await greenlet_spawn(pooled_fetch, sync_engine, *plan)
            async with self.engine.connect() as connection:
                result: CursorResult[Any] = await AsyncConnection.execute(
                    connection, statement, parameters, execution_options=execution_options
                )
                return result
        except Exception as error:  # a cancelled read is no failure of its database
            if self.on_failure is not None:
                self.on_failure(error)
            raise

    async def scalar(self, statement: Any, parameters: Any = None, *, execution_options: Any = None) -> Any:
        return (await self.execute(statement, parameters, execution_options=execution_options)).scalar()


def pooled_fetch(engine: Engine, sql: str, values: list[Any], generic: bool) -> CursorResult[Any]:
    """In a greenlet (the pool may have to connect, wait or close, all awaited): a pooled connection for one
    statement, given back after it."""
    try:
        pooled = engine.raw_connection()
    except engine.dialect.loaded_dbapi.Error as error:
        # As SQLAlchemy's Connection does: the driver's error as SQLAlchemy's DBAPIError (a refused or lost
        # server is then a 503, app/errors.py), and the pool emptied if the server went away.
        Connection._handle_dbapi_exception_noconnection(error, engine.dialect, engine)
    try:
        driver: asyncpg.Connection = pooled.driver_connection
        return await_only(sound_fetch(driver, sql, values, generic, pooled.invalidate))
    finally:
        pooled.close()


async def run(
    connection: AsyncConnection, statement: Any, parameters: Any, options: Any
) -> CursorResult[Any]:
    """One statement on a started connection: on its asyncpg connection when it can, else through SQLAlchemy."""
    sync = connection.sync_connection
    assert sync is not None
    plan = direct_plan(statement, parameters, options, sync.dialect)
    if plan is None:
        result: CursorResult[Any] = await AsyncConnection.execute(
            connection, statement, parameters, execution_options=options
        )
        return result
    return await sound_fetch(sync.connection.driver_connection, *plan, sync.invalidate)


async def sound_fetch(
    driver: asyncpg.Connection,
    sql: str,
    values: list[Any],
    generic: bool,
    invalidate: Callable[[BaseException], None],
) -> CursorResult[Any]:
    """`fetch`, and a connection the statement may have left unsound is `invalidate`d: the pool must not hand
    it out again (SQLAlchemy does this for the statements it runs itself)."""
    try:
        return await (fetch_generic if generic else fetch)(driver, sql, values)
    except BaseException as error:
        if leaves_connection_sound(error, driver):
            raise
        # Synchronous, so that it happens in a cancelled task too: the connection is terminated.
        invalidate(error)
        if driver.is_closed() and isinstance(error, Exception):
            # Closed under it, whatever the driver says about the operation it was in: the connection is lost.
            raise asyncpg.InterfaceError("connection is closed") from error
        raise


def leaves_connection_sound(error: BaseException, driver: asyncpg.Connection) -> bool:
    """Whether the connection can run the next statement after `error`: the server refused this one (a timeout,
    a bad value), or the driver refused a value before sending it. Anything else (the connection broke, the
    server is going away, the task was cancelled mid-statement) may leave it mid-protocol."""
    if isinstance(error, asyncpg.InterfaceError):
        return isinstance(error, ValueError)  # DataError: a value it could not encode
    if not isinstance(error, asyncpg.PostgresError) or driver.is_closed():
        return False
    code = error.sqlstate or ""
    return not isinstance(error, asyncpg.PostgresConnectionError) and not code.startswith(("08", "57P"))
