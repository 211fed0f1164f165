"""A dedicated asyncpg connection for one live feed: it LISTENs to a channel and runs the feed's queries.

Not taken from the pool: a stream lasts as long as its client, and would otherwise hold a pooled connection
(and starve short requests) for hours.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import anyio
import asyncpg
from sqlalchemy import URL, TextClause
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect


def plain_url(url: URL) -> str:
    """The engine's URL as asyncpg takes it: postgresql://user:password@host:port/db (no driver)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@lru_cache(maxsize=256)
def _compiled(statement: TextClause) -> tuple[str, tuple[str, ...]]:
    # Named parameters (:name) to asyncpg's $1.. placeholders, compiled once per statement.
    compiled = statement.compile(dialect=asyncpg_dialect.dialect())  # type: ignore[no-untyped-call]
    return str(compiled), tuple(compiled.positiontup or ())


class Listener:
    """One connection: notifications on `channel` set an event that `wait` waits for."""

    def __init__(self, connection: asyncpg.Connection, channel: str) -> None:
        self.connection, self.channel = connection, channel
        self.notified = asyncio.Event()

    @classmethod
    async def open(cls, url: str, channel: str) -> Listener:
        connection = await asyncpg.connect(
            url, server_settings={"application_name": "territory-feed", "jit": "off"}
        )
        listener = cls(connection, channel)
        try:
            await connection.add_listener(channel, listener._on_notify)
        except BaseException:
            connection.terminate()
            raise
        return listener

    def _on_notify(self, *_: Any) -> None:
        self.notified.set()

    async def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a notification; True if one came (since the last `fetch`)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.notified.wait(), timeout)
        return self.notified.is_set()

    async def fetch(self, statement: TextClause, params: Mapping[str, Any]) -> list[asyncpg.Record]:
        """Run a SQLAlchemy text() statement; notifications before it are consumed (it sees their rows)."""
        self.notified.clear()
        sql, names = _compiled(statement)
        return list(await self.connection.fetch(sql, *(params.get(name) for name in names)))

    async def close(self) -> None:
        """Close even when the stream's task is being cancelled (the client went away)."""
        with anyio.CancelScope(shield=True):
            try:
                await asyncio.wait_for(self.connection.close(), 2)
            except Exception:
                self.connection.terminate()
