"""Database URL resolution and the async engines: one pool for reads, one for writes.

Two pools are a bulkhead: writers queued on a lock can fill the write pool, never the read pool, so reads (and
the key lookups of every request) keep answering. Every session carries timeouts, so no statement, lock wait or
forgotten transaction holds a connection for long, and a write that timed out is rolled back, never landing
later.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.localdb import LocalCluster
from app.settings import Settings, async_database_url


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
    prepared_statements: bool = True,
) -> AsyncEngine:
    return create_async_engine(
        async_database_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        # Waiting for a connection is waiting for the database: give up soon and answer 503.
        pool_timeout=pool_timeout,
        # Short OLTP queries: JIT compilation costs more than it saves.
        connect_args={
            "server_settings": {
                "application_name": application_name,
                "jit": "off",
                **(server_settings or {}),
            },
            **statement_caching(prepared_statements),
        },
    )


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
        prepared_statements=settings.prepared_statements,
    )
    reads = create_engine(
        database_url,
        pool_size=settings.pool_size,
        pool_timeout=settings.pool_timeout_seconds,
        application_name="territory-read",
        server_settings=session_settings(settings, statement_timeout=settings.read_statement_timeout_seconds),
        prepared_statements=settings.prepared_statements,
    )
    return writes, reads
