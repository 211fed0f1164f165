"""One listening connection per process, shared by every live feed: it LISTENs to a channel and wakes them.

A stream lasts as long as its client: a connection of its own each would let a few hundred subscribers take every
connection the server has. Here 1,000 subscribers cost one connection, their reads are short checkouts from the
read pool, and a cap on subscribers per process is answered 503 before a stream starts.

Watchers listen on further channels of the same connection for the life of the process (the data version of
app/api/caching.py), and may run short queries on it (`fetchrow`), which are ordered with the notifications it
receives. It must connect to the primary: a replica delivers no notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
import asyncpg
from sqlalchemy import URL

from app.errors import ServiceUnavailable, database_unavailable

LISTENER_NAME = "territory-feed"  # its application_name: app/api/caching.py finds the other processes' by it


def plain_url(url: URL) -> str:
    """The engine's URL as asyncpg takes it: postgresql://user:password@host:port/db (no driver)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class Subscription:
    """One stream's view of the channel: `wait` returns when a notification came, or the connection was lost."""

    def __init__(self, listener: SharedListener) -> None:
        self.listener = listener
        self.notified = asyncio.Event()
        # The listening connection is gone: the stream ends, its client reconnects and resumes.
        self.lost = False

    async def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a notification; True if one came since the last `clear`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.notified.wait(), timeout)
        return self.notified.is_set()

    def clear(self) -> None:
        """Called before each read: a notification during the read makes the next `wait` return at once."""
        self.notified.clear()

    def close(self) -> None:
        self.listener.subscribers.discard(self)


@dataclass(frozen=True)
class Watcher:
    """A permanent listener on `channel`: `connected` before it listens on a new connection, `notified` with
    each payload, `lost` when the connection is gone (what was notified meanwhile is unknown)."""

    channel: str
    connected: Callable[[], None]
    notified: Callable[[str], None]
    lost: Callable[[], None]


class SharedListener:
    """The process's listening connection, opened by the first subscriber and again after it was lost."""

    def __init__(self, url: str, channel: str, *, max_subscribers: int, connect_timeout: float = 2.0) -> None:
        self.url, self.channel = url, channel
        self.max_subscribers, self.connect_timeout = max_subscribers, connect_timeout
        self.connection: asyncpg.Connection | None = None
        # Weak: a stream whose answer never started (its client left first) drops out of the count by itself.
        self.subscribers: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._connecting = asyncio.Lock()
        self.watchers: list[Watcher] = []
        self._querying = asyncio.Lock()  # one statement at a time on the connection

    async def subscribe(self) -> Subscription:
        """A subscription, listening from now on; 503 (with Retry-After) when at the cap or the database is away."""
        if len(self.subscribers) >= self.max_subscribers:
            raise ServiceUnavailable(
                f"This server already serves {self.max_subscribers} event streams; retry later or read "
                "/v1/events?since=.",
                headers={"Retry-After": "10"},
                reason="stream-limit",
            )
        async with self._connecting:
            if self.connection is None or self.connection.is_closed():
                await self._connect()
        subscription = Subscription(self)
        self.subscribers.add(subscription)
        return subscription

    def watch(self, watcher: Watcher) -> None:
        """Listen on the watcher's channel too, from the next connection on (call before the first)."""
        self.watchers.append(watcher)

    async def fetchrow(self, query: str, *args: Any, timeout: float) -> Any:
        """One row read on the listening connection (connecting it if needed); a statement that times out
        drops the connection, as a lost one (its watchers are told)."""
        async with self._connecting:
            if self.connection is None or self.connection.is_closed():
                await self._connect()
            connection = self.connection
        assert connection is not None
        async with self._querying:
            try:
                return await connection.fetchrow(query, *args, timeout=timeout)
            except BaseException:
                self.drop(connection)
                raise

    def drop(self, connection: asyncpg.Connection) -> None:
        """Give up a connection that no longer answers: everyone listening on it is told it is lost."""
        connection.terminate()
        self._on_termination(connection)

    async def _connect(self) -> None:
        try:
            connection = await asyncpg.connect(
                self.url,
                timeout=self.connect_timeout,
                server_settings={"application_name": LISTENER_NAME},
            )
        except Exception as exc:
            raise database_unavailable(exc) or ServiceUnavailable(
                f"The event stream cannot listen: {type(exc).__name__}", headers={"Retry-After": "2"}
            ) from exc
        try:
            await connection.add_listener(self.channel, self._on_notify)
            for watcher in self.watchers:
                watcher.connected()
                await connection.add_listener(watcher.channel, _deliver_to(watcher))
        except Exception as exc:
            connection.terminate()
            raise database_unavailable(exc) or ServiceUnavailable(
                "The event stream cannot listen.", headers={"Retry-After": "2"}
            ) from exc
        connection.add_termination_listener(self._on_termination)
        self.connection = connection

    def _on_notify(self, *_: Any) -> None:
        for subscription in list(self.subscribers):
            subscription.notified.set()

    def _on_termination(self, connection: asyncpg.Connection) -> None:
        # Every stream ends: what was notified while nobody listened is unknown, and each client resumes from its
        # Last-Event-ID on a stream that listens again.
        if connection is self.connection:
            self.connection = None
        for watcher in self.watchers:
            watcher.lost()
        for subscription in list(self.subscribers):
            subscription.lost = True
            subscription.notified.set()
        self.subscribers.clear()

    async def close(self) -> None:
        """Close even when the task is being cancelled (the server is stopping)."""
        connection, self.connection = self.connection, None
        if connection is None:
            return
        with anyio.CancelScope(shield=True):
            try:
                await asyncio.wait_for(connection.close(), 2)
            except Exception:
                connection.terminate()


def _deliver_to(watcher: Watcher) -> Callable[[asyncpg.Connection, int, str, str], None]:
    def deliver(_connection: asyncpg.Connection, _pid: int, _channel: str, payload: str) -> None:
        watcher.notified(payload)

    return deliver
