"""Database URL resolution and the async engines: one pool for reads, one for writes.

Two pools are a bulkhead: writers queued on a lock can fill the write pool, never the read pool, so reads (and
the key lookups of every request) keep answering. Every session carries timeouts, so no statement, lock wait or
forgotten transaction holds a connection for long, and a write that timed out is rolled back, never landing
later.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from sqlalchemy import Connection, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.db.replicas import PRIMARY, Database, ReadRouting
from app.localdb import LocalCluster
from app.settings import Settings, async_database_url, read_database_urls


def resolve_database_url(settings: Settings) -> str:
    """DATABASE_URL when set; otherwise the project's own local cluster, created and started on first use."""
    if settings.database_url:
        return settings.database_url
    return LocalCluster.for_project().ensure_running()


def session_settings(settings: Settings, *, statement_timeout: float) -> dict[str, str]:
    """PostgreSQL settings of the app's sessions, in milliseconds (0 would mean no limit: never sent)."""

    def ms(seconds: float) -> str:
        return str(max(1, round(seconds * 1000)))

    return {
        "statement_timeout": ms(statement_timeout),
        "lock_timeout": ms(settings.lock_timeout_seconds),
        "idle_in_transaction_session_timeout": ms(settings.idle_in_transaction_timeout_seconds),
    }


def create_engine(
    database_url: str,
    *,
    pool_size: int = 10,
    pool_timeout: float = 30.0,
    application_name: str = "territory",
    server_settings: dict[str, str] | None = None,
    pgbouncer: bool = False,
    max_overflow: int | None = None,
    timeouts: dict[str, float] | None = None,
) -> AsyncEngine:
    """`timeouts`: asyncpg's `timeout` (to connect) and `command_timeout` (to wait for an answer), in seconds."""
    # Short OLTP queries: JIT compilation costs more than it saves.
    session = {"jit": "off", **(server_settings or {})}
    # application_name is one of the few startup parameters PgBouncer passes on (it tracks it per client).
    connect_args: dict[str, Any] = {
        "server_settings": {"application_name": application_name},
        **(timeouts or {}),
    }
    if pgbouncer:
        # Transaction pooling gives each transaction whichever server connection is free. A statement prepared by
        # name on one is unknown on the next (or taken there by another client), so asyncpg and SQLAlchemy cache
        # none and use the unnamed statement, which lives only as long as the transaction. Other startup
        # parameters PgBouncer 1.18 refuses (or, listed in ignore_startup_parameters, drops): the session settings
        # are set again at the start of each transaction instead (SET LOCAL: they end with it).
        connect_args |= statement_caching(prepared=False)
    else:
        connect_args |= statement_caching(prepared=True)
        connect_args["server_settings"] |= session
    engine = create_async_engine(
        async_database_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        # Waiting for a connection is waiting for the database: give up soon and answer 503.
        pool_timeout=pool_timeout,
        # The connection used last is handed out first (as asyncpg's own pool does): under a light load the same
        # few server processes answer, warm, instead of every pooled one in turn (a one-row read's round trip
        # cost ~35 µs less of the worker's CPU), and the others stay idle.
        pool_use_lifo=True,
        connect_args=connect_args,
    )
    if pgbouncer:
        set_in_each_transaction(engine, session)
    replace_closed_on_checkout(engine)
    return engine


def replace_closed_on_checkout(engine: AsyncEngine) -> None:
    """A pooled connection the server closed while it sat idle (a restart, a terminated backend) is replaced as
    it is checked out, instead of failing its request with a 503 after the database is back: the driver already
    knows it is closed, so this costs no round trip (unlike pre-ping). A failed connect does not empty the pool,
    and the reads of app/db/reads.py invalidate only the connection that failed, so without this check the dead
    connections deepest in the LIFO pool would each fail one request once a busier moment reached them."""

    @event.listens_for(engine.sync_engine, "checkout")
    def closed_while_pooled(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the server closed this pooled connection")  # the pool connects anew


def statement_caching(prepared: bool) -> dict[str, Any]:
    """Connection arguments for the prepared statements of both layers: asyncpg's cache (the reads of
    app/db/reads.py run on it) with no size limit on a cached text (the queries are long: 3-10 kB), and
    SQLAlchemy's own; or none kept at all, each statement prepared unnamed (asyncpg) or under a name of its own
    (SQLAlchemy), so that no name outlives a server connection a pooler may swap between transactions."""
    if prepared:
        return {"max_cacheable_statement_size": 0}
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": lambda: f"__territory_{uuid4().hex}__",
    }


def set_in_each_transaction(engine: AsyncEngine, session: dict[str, str]) -> None:
    """Apply `session` (name -> value) at the start of every transaction of `engine`: one more round trip each."""
    names = list(session)
    statement = "SELECT " + ", ".join(f"set_config('{name}', ${i}, true)" for i, name in enumerate(names, 1))
    values = tuple(session[name] for name in names)

    @event.listens_for(engine.sync_engine, "begin")
    def set_locally(connection: Connection) -> None:
        # The driver's own cursor: a statement through `connection` here would begin the transaction again.
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(statement, values)
        cursor.close()


def read_only(engine: AsyncEngine, *, pgbouncer: bool = False) -> AsyncEngine:
    """The same pool in autocommit mode: a read is one round trip, with no BEGIN and no ROLLBACK around it.

    Not through PgBouncer: there the session settings (the read statement timeout among them) are set in each
    transaction (`set_in_each_transaction`), and an autocommit read would have none. (The statement itself would
    survive autocommit: with its cache off, asyncpg sends an unnamed statement's Parse again with its Bind.)"""
    return engine if pgbouncer else engine.execution_options(isolation_level="AUTOCOMMIT")


def create_engines(settings: Settings, database_url: str) -> tuple[AsyncEngine, AsyncEngine]:
    """The write engine and the read engine of the app, each with its own pool (see the module's text)."""
    writes = create_engine(
        database_url,
        pool_size=settings.write_pool_size,
        pool_timeout=settings.pool_timeout_seconds,
        application_name="territory-write",
        server_settings=session_settings(
            settings, statement_timeout=settings.write_statement_timeout_seconds
        ),
        pgbouncer=settings.pgbouncer,
    )
    reads = create_engine(
        database_url,
        pool_size=settings.pool_size,
        pool_timeout=settings.pool_timeout_seconds,
        application_name="territory-read",
        server_settings=session_settings(settings, statement_timeout=settings.read_statement_timeout_seconds),
        pgbouncer=settings.pgbouncer,
    )
    return writes, reads


def create_keys_engine(settings: Settings, primary_url: str) -> AsyncEngine:
    """The pool that admits API keys on the primary (app/api/auth.py): a third bulkhead, so that writers queued
    on locks, which can fill the write pool, do not hold up the key check of every keyed request."""
    keys = create_engine(
        primary_url,
        pool_size=settings.key_pool_size,
        pool_timeout=settings.pool_timeout_seconds,
        application_name="territory-keys",
        server_settings=session_settings(settings, statement_timeout=settings.read_statement_timeout_seconds),
        pgbouncer=settings.pgbouncer,
    )
    return read_only(keys, pgbouncer=settings.pgbouncer)


def create_read_routing(settings: Settings, database_url: str, reads: AsyncEngine) -> ReadRouting | None:
    """The read replicas of TERRITORY_READ_DATABASE_URLS, each with a read pool like the primary's (`reads`);
    None without replicas. Each database also gets one connection of its own for its watcher."""
    urls = read_database_urls(settings)
    if not urls:
        return None
    check = {"timeout": settings.pool_timeout_seconds, "command_timeout": settings.pool_timeout_seconds}

    def probe(url: str) -> AsyncEngine:
        return read_only(
            create_engine(
                url,
                pool_size=1,
                max_overflow=0,
                pool_timeout=settings.pool_timeout_seconds,
                application_name="territory-check",
                timeouts=check,
                pgbouncer=settings.pgbouncer,
            ),
            pgbouncer=settings.pgbouncer,
        )

    replicas = []
    for number, url in enumerate(urls, start=1):
        engine = create_engine(
            url,
            pool_size=settings.pool_size,
            pool_timeout=settings.pool_timeout_seconds,
            application_name="territory-read",
            server_settings=session_settings(
                settings, statement_timeout=settings.read_statement_timeout_seconds
            ),
            # A replica that stops answering fails the read soon (it is then tried on another database),
            # rather than holding it until the network gives up.
            timeouts={
                "timeout": settings.pool_timeout_seconds,
                "command_timeout": settings.read_statement_timeout_seconds + 1,
            },
            pgbouncer=settings.pgbouncer,
        )
        replicas.append(
            Database(f"replica-{number}", read_only(engine, pgbouncer=settings.pgbouncer), probe(url))
        )
    return ReadRouting(
        Database(PRIMARY, reads, probe(database_url)),
        replicas,
        max_lag=settings.max_replica_lag_seconds,
        interval=settings.replica_check_seconds,
    )
