"""Database URL resolution and the async engine."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.localdb import LocalCluster
from app.settings import Settings, async_database_url


def resolve_database_url(settings: Settings) -> str:
    """DATABASE_URL when set; otherwise the project's own local cluster, created and started on first use."""
    if settings.database_url:
        return settings.database_url
    return LocalCluster.for_project().ensure_running()


def create_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        async_database_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        # Short OLTP queries: JIT compilation costs more than it saves.
        connect_args={"server_settings": {"application_name": "territory", "jit": "off"}},
    )


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same pool in autocommit mode: a read is one round trip, with no BEGIN and no ROLLBACK around it."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")
