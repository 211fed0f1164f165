"""Where a batch of events is recorded: straight in the database, or through the API's `POST /v1/events/batch`.

Both answer a batch with the service's outcome (created or existing, per event), a rejection (the problems, each
with the index of its event when it has one), or `TooLarge`; what stops the whole run raises `Aborted`.
"""

from __future__ import annotations

import asyncio
import email.utils
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol

import httpx
import orjson
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from app.db.transaction import in_transaction
from app.errors import DomainError, translate_database_error
from app.schemas.events import EventCreate
from app.services.events import Outcome, create_events
from app.services.keys import CommandLine

BATCH_PATH = "/v1/events/batch"
# A 429 or 503 is retried after its Retry-After (at most MAX_WAIT_S), a lost connection after 1, 2, 4... s.
ATTEMPTS = 5
MAX_WAIT_S = 60.0


class Aborted(Exception):
    """The run cannot go on: a refused key, an unreachable service. `exit_code` 2: fix the call; 3: try later."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Rejected:
    """Nothing of the batch was recorded. Each error: {index (of the event in the batch, when known), field,
    reason}."""

    detail: str
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class TooLarge:
    """The service takes smaller batches: at most `max_batch` events (None: the body was too large)."""

    detail: str
    max_batch: int | None


Sent = Outcome | Rejected | TooLarge


class Target(Protocol):
    retries: int  # batches sent again (429, 503, a lost connection)

    async def send(self, events: list[EventCreate]) -> Sent: ...

    async def finish(self, *, commit: bool) -> bool:
        """End the run: True when what was sent stays recorded."""
        ...


def rejected(error: DomainError) -> Rejected:
    return Rejected(error.detail, list(error.members.get("errors", [])))


class Database:
    """`create_events` in this process, recorded with no API key (recorded_by NULL).

    By default each batch is its own transaction. With `whole_file` (for --all-or-nothing and --dry-run) the
    run is one transaction and each batch a savepoint in it: a rejected batch is undone alone, the next batches
    still see the earlier ones (as they would when committed), and `finish` commits or rolls back the lot."""

    def __init__(self, engine: AsyncEngine, *, whole_file: bool) -> None:
        self.engine, self.whole_file = engine, whole_file
        self.connection: AsyncConnection | None = None
        self.transaction: AsyncTransaction | None = None
        self.retries = 0  # deadlocks are retried inside in_transaction, unseen

    async def __aenter__(self) -> Database:
        if self.whole_file:
            try:
                self.connection = await self.engine.connect()
            except (OSError, DBAPIError) as exc:
                raise Aborted(f"cannot reach the database: {exc}", 3) from exc
            self.transaction = await self.connection.begin()
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.connection is not None:
            await self.connection.close()  # rolls back whatever `finish` did not commit

    async def send(self, events: list[EventCreate]) -> Sent:
        try:
            if self.connection is None:
                return await in_transaction(
                    self.engine, lambda conn: create_events(conn, events, key=CommandLine())
                )
            async with self.connection.begin_nested():  # a savepoint: a rejected batch leaves no trace
                return await create_events(self.connection, events, key=CommandLine())
        except DomainError as exc:
            return rejected(exc)
        except DBAPIError as exc:
            if (translated := translate_database_error(exc)) is None or translated.status == 503:
                raise Aborted(f"the database failed: {str(exc.orig).splitlines()[0]}", 3) from exc
            return rejected(translated)
        except OSError as exc:
            raise Aborted(f"cannot reach the database: {exc}", 3) from exc

    async def finish(self, *, commit: bool) -> bool:
        if self.transaction is None:
            return True
        try:
            if commit:
                await self.transaction.commit()
                return True
            await self.transaction.rollback()
        except (OSError, DBAPIError) as exc:
            if commit:
                raise Aborted(f"the database failed at commit, nothing was recorded: {exc}", 3) from exc
            # A rollback that fails (a lost connection) still leaves nothing behind.
        return False


class Service:
    """The running API: each batch is POSTed with the key, retried on 429/503 (after Retry-After) and on a lost
    connection. A retry is safe: events carry their external_id, so one already recorded comes back `existing`."""

    def __init__(self, url: str, key: str, *, timeout: float = 120.0, sleep: Any = asyncio.sleep) -> None:
        self.http = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            timeout=httpx.Timeout(timeout, connect=10.0),
        )
        self.sleep = sleep
        self.retries = 0  # how many times a batch was sent again, for the report

    async def __aenter__(self) -> Service:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.http.aclose()

    async def send(self, events: list[EventCreate]) -> Sent:
        body = orjson.dumps({"events": [e.model_dump(mode="json", exclude_unset=True) for e in events]})
        for attempt in range(1, ATTEMPTS + 1):
            last = attempt == ATTEMPTS
            try:
                response = await self.http.post(BATCH_PATH, content=body)
            except httpx.TransportError as exc:
                if last:
                    raise Aborted(f"no answer from {self.http.base_url}: {exc!r}", 3) from exc
                await self.retry(2.0 ** (attempt - 1))
                continue
            status = response.status_code
            if status in (200, 201):
                return Outcome(items=response.json()["items"])
            problem = problem_of(response)
            detail = str(problem.get("detail") or response.reason_phrase)
            if status in (409, 422):
                return Rejected(detail, list(problem.get("errors", [])))
            if status == 413:
                return TooLarge(detail, problem.get("max_batch"))
            if status in (429, 503) and not last:
                await self.retry(retry_after(response.headers.get("retry-after"), default=2.0**attempt))
                continue
            if status in (401, 403):
                raise Aborted(f"the service refused the key ({status}): {detail}", 2)
            if status in (404, 405):
                raise Aborted(
                    f"{self.http.base_url}{BATCH_PATH} is not a Territory batch endpoint ({status})", 2
                )
            raise Aborted(f"the service answered {status}: {detail}", 3)
        raise AssertionError("unreachable")

    async def retry(self, seconds: float) -> None:
        self.retries += 1
        await self.sleep(min(seconds, MAX_WAIT_S))

    async def finish(self, *, commit: bool) -> bool:
        return True  # every batch the service accepted is committed


def problem_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def retry_after(value: str | None, *, default: float) -> float:
    """Retry-After in seconds: a number of seconds, or an HTTP date (RFC 9110)."""
    if value is None:
        return default
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, (when - datetime.now(UTC)).total_seconds()) if when.tzinfo else default
