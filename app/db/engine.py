"""Database URL resolution and the async engines: one pool for reads, one for writes.

Two pools are a bulkhead: writers queued on a lock can fill the write pool, never the read pool, so reads (and
the key lookups of every request) keep answering. Every session carries timeouts, so no statement, lock wait or
forgotten transaction holds a connection for long, and a write that timed out is rolled back, never landing
later.
"""

from __future__ import annotations

from typing import Any

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
    max_overflow: int | None = None,
    timeouts: dict[str, float] | None = None,
) -> AsyncEngine:
    """`timeouts`: asyncpg's `timeout` (to connect) and `command_timeout` (to wait for an answer), in seconds."""
    connect_args: dict[str, Any] = {
        # Short OLTP queries: JIT compilation costs more than it saves.
        "server_settings": {"application_name": application_name, "jit": "off", **(server_settings or {})},
        **(timeouts or {}),
    }
    return create_async_engine(
        async_database_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        # Waiting for a connection is waiting for the database: give up soon and answer 503.
        pool_timeout=pool_timeout,
        connect_args=connect_args,
    )


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same pool in autocommit mode: a read is one round trip, with no BEGIN and no ROLLBACK around it."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


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
    )
    reads = create_engine(
        database_url,
        pool_size=settings.pool_size,
        pool_timeout=settings.pool_timeout_seconds,
        application_name="territory-read",
        server_settings=session_settings(settings, statement_timeout=settings.read_statement_timeout_seconds),
    )
    return writes, reads


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
            )
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
        )
        replicas.append(Database(f"replica-{number}", read_only(engine), probe(url)))
    return ReadRouting(
        Database(PRIMARY, reads, probe(database_url)),
        replicas,
        max_lag=settings.max_replica_lag_seconds,
        interval=settings.replica_check_seconds,
    )
