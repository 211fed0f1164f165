"""Reads spread over streaming replicas; what each replica's state is, and which database a read goes to.

A plain read goes to a healthy replica, round robin; a read that names a WAL position (the answer of a write it
made) goes only to a replica that has replayed that far; with no such replica, to the primary. Writes never come
here: they run on the write pool, on the primary.

Each replica is watched by a task of its own, every TERRITORY_REPLICA_CHECK_SECONDS, on a connection of its own
(so a full read pool does not make a replica look down): it is down when that check fails, lagging when it is
further behind than TERRITORY_MAX_REPLICA_LAG_SECONDS, healthy otherwise, and skipped unless healthy. A read that
fails on a replica marks it down at once (the next good check brings it back) and is tried again elsewhere, once
(app/api/replication.py).

How far behind: `now() - pg_last_xact_replay_timestamp()` alone would call a replica of an idle primary ever
further behind (no commit to replay, the last one ages), so a task also samples the primary's WAL position. A
replica that has replayed the newest sample is current; one that has not is at most as old as the newest sample
it has replayed, or its last replayed commit, whichever is younger. The primary down, the samples stop: a replica
that replayed the last one stays healthy and serves the reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.queries.replication import StandbyState, lsn_text, primary_position, standby_state
from app.errors import RETRYABLE, database_unavailable, sqlstate

logger = logging.getLogger("territory")

PRIMARY = "primary"
State = Literal["unknown", "healthy", "lagging", "down", "not-a-standby"]


@dataclass(eq=False)
class Database:
    """One database reads may go to: its read pool, the watcher's own connection, and what the last check found."""

    name: str
    engine: AsyncEngine
    probe: AsyncEngine
    state: State = "unknown"
    # The end of the WAL it has replayed (a replica), or the primary's flushed position, at the last check.
    position: int | None = None
    lag_seconds: float | None = None
    error: str | None = None
    checked_at: float | None = None  # time.time()

    def serves(self, position: int | None) -> bool:
        """Healthy, and (for a read naming a position) known to have replayed that far."""
        if self.state != "healthy":
            return False
        return position is None or (self.position is not None and self.position >= position)

    def set_state(self, state: State, *, error: str | None = None) -> None:
        if state != self.state and self.state != "unknown":
            log = logger.info if state == "healthy" else logger.warning
            log("%s is now %s%s", self.name, state, f": {error}" if error else "")
        self.state, self.error = state, error

    def detail(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds, 3),
            "position": None if self.position is None else lsn_text(self.position),
            "error": self.error,
            "checked_at": self.checked_at,
        }


def describe(exc: BaseException) -> str:
    outage = database_unavailable(exc)
    reason = outage.members.get("reason") if outage is not None else None
    return str(reason or type(exc).__name__)


@dataclass(eq=False)
class ReadRouting:
    """The primary and the replicas, their watchers, and the choice of a database for each read."""

    primary: Database
    replicas: list[Database]
    max_lag: float
    interval: float
    # (time.monotonic(), the primary's flushed WAL position), newest last, over at least `max_lag` seconds.
    samples: deque[tuple[float, int]] = field(init=False)
    _turn: itertools.count[int] = field(default_factory=itertools.count, init=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.samples = deque(maxlen=math.ceil(self.max_lag / self.interval) + 3)

    def choose(self, position: int | None, *, avoid: Collection[str] = (), primary: bool = False) -> Database:
        """A healthy replica that has replayed `position` (round robin), else the primary."""
        if not primary:
            fresh = [r for r in self.replicas if r.name not in avoid and r.serves(position)]
            if fresh:
                return fresh[next(self._turn) % len(fresh)]
        return self.primary

    def failed(self, database: Database, exc: BaseException) -> bool:
        """A read on `database` raised `exc`: whether to try it once more elsewhere (the replica, not the read,
        failed). A replica that cannot be reached is marked down until its watcher reaches it again."""
        if database is self.primary or database_unavailable(exc) is None:
            return False
        code = sqlstate(exc)
        if code == "57014":  # the statement ran past its timeout: the read is slow, not the replica
            return False
        # A query cancelled because it conflicted with the replay (40001, 40P01), or a full read pool: the
        # replica itself is up.
        if code not in RETRYABLE and not _is_pool_timeout(exc):
            database.set_state("down", error=describe(exc))
        return True

    def lag_of(self, standby: StandbyState, now: float) -> float | None:
        """Seconds a standby's data may be behind the primary's (see the module's text); None: unknown."""
        replayed = standby.replayed or 0
        bounds = [max(0.0, standby.replay_age)] if standby.replay_age is not None else []
        if self.samples:
            if replayed >= self.samples[-1][1]:
                return 0.0
            covered = [moment for moment, position in self.samples if position <= replayed]
            if covered:
                bounds.append(now - covered[-1])
        elif not bounds:
            return 0.0  # nothing to compare with yet: a new standby of a primary not sampled yet
        return min(bounds) if bounds else None

    async def check_primary(self) -> None:
        try:
            async with self.primary.probe.connect() as conn:
                position = await primary_position(conn)
        except Exception as exc:
            self.primary.set_state("down", error=describe(exc))
        else:
            self.samples.append((time.monotonic(), position))
            self.primary.position, self.primary.lag_seconds = position, 0.0
            self.primary.set_state("healthy")
        self.primary.checked_at = time.time()

    async def check_replica(self, replica: Database) -> None:
        try:
            async with replica.probe.connect() as conn:
                standby = await standby_state(conn)
        except Exception as exc:
            replica.set_state("down", error=describe(exc))
        else:
            replica.position = standby.replayed
            if not standby.in_recovery:
                # Promoted, or the primary itself: its data may part from the primary's. Never read from it.
                replica.lag_seconds = None
                replica.set_state("not-a-standby", error="pg_is_in_recovery() is false")
            else:
                replica.lag_seconds = self.lag_of(standby, time.monotonic())
                if replica.lag_seconds is not None and replica.lag_seconds <= self.max_lag:
                    replica.set_state("healthy")
                else:
                    replica.set_state("lagging", error=f"more than {self.max_lag:g} s behind the primary")
        replica.checked_at = time.time()

    async def start(self) -> None:
        """Check every database once (the primary first: the replicas are compared with it), then keep watching."""
        await self.check_primary()
        await asyncio.gather(*(self.check_replica(replica) for replica in self.replicas))
        self._tasks = [asyncio.create_task(self._watch(self.check_primary))]
        for replica in self.replicas:
            self._tasks.append(asyncio.create_task(self._watch(self.check_replica, replica)))

    async def _watch(self, check: Any, *args: Any) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await check(*args)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for database in (self.primary, *self.replicas):
            await database.probe.dispose()
        for replica in self.replicas:
            await replica.engine.dispose()

    def detail(self) -> list[dict[str, Any]]:
        return [replica.detail() for replica in self.replicas]


def _is_pool_timeout(exc: BaseException) -> bool:
    return isinstance(exc, PoolTimeout) or (
        isinstance(exc, DBAPIError) and isinstance(getattr(exc, "orig", None), PoolTimeout)
    )
