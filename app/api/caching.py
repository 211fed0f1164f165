"""HTTP caching for GET answers: ETags, 304 on a match, answers kept per data version, a Cache-Control that stays
true.

A live answer can still change, about a past date too: correcting the record of past dates is what the API is
for. So a cache must revalidate it (`no-cache`: each use asks again, and an unchanged answer costs a body-less
304). Only an answer `as_of` a settled moment cannot change, since it is the record as it stood then: it may be
kept for a year (`immutable`). With TERRITORY_REQUIRE_READ_KEY answers are `private` and vary with the key
headers, so no shared cache hands one key's answer to another client.

Polling without the database. Every committed write moves the data version forward (app/db/sql/data_version.sql)
and notifies it; each process follows it on the shared listening connection (`DataVersion`). While the process
knows the version, an answer is a function of (version, request): its ETag is derived from those two, not from
the body, and `ResponseCache`, a middleware before the routes, answers a matching If-None-Match with 304 and a
repeated request with the bytes kept from the first, without a query. What the key of a request holds: scheme,
host, root path, path, the query string as sent (bodies embed their own URL: two spellings of a query are two
answers), Accept, whether gzip is accepted, today's date (a missing `at` means today), and the read key's id
when reads need one. A request whose key the process has not seen valid at this version goes to the routes,
which look it up.

Why an answer is never stale after a write committed:
- The version a process trusts is read on the listening connection *after* LISTEN took effect, and every
  notification after that raises it: no commit falls between the two. The entry an answer fills is keyed by the
  version the process held when the request arrived: the read runs later, so it shows that version or a newer
  one, never an older one (a read from a replica must key by the replica's own version, read before the answer
  on the same connection: `observed_version`).
- The process that wrote answers the write only after reading the version again on the listening connection,
  after the commit (its next answer is the new one), and after every other process that follows the version
  and still listens has said it holds it (each says so on ACK_CHANNEL once it applied a notification or a
  read). A request any process receives after the write's answer finds the new version. What is left: a
  process that does not say so within ACK_TIMEOUT (its event loop blocked that long) is not waited for, and
  writes from outside the API (psql, `territory ingest` in direct mode) have no one waiting: a request
  arriving at another process before its notification (well under a millisecond on one machine) is answered
  from the version before.
- When the listening connection is lost, or the check made every TERRITORY_DATA_VERSION_CHECK_SECONDS does not
  answer within that time, the version is not trusted and nothing is served from the cache until the
  connection is back and the version read again: a missed notification costs queries, never a stale answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import Request
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.auth import admit_key, key_in
from app.api.compression import gzip_accepted, gzip_tag, identity_tags
from app.api.limits import refuse
from app.db.listen import LISTENER_NAME, SharedListener, Watcher
from app.db.queries.data_version import ANNOUNCE, READ_VERSION
from app.errors import DomainError
from app.services.keys import ApiKey
from app.settings import Settings

logger = logging.getLogger("territory")

JSON = "application/json"
GEOJSON = "application/geo+json"

IMMUTABLE_MAX_AGE = 365 * 24 * 3600
# A version is stamped with its transaction's start (now()), so a write that began before a moment and commits
# after it still changes the record as of that moment. A moment a day old is past any write transaction.
SETTLED_AFTER = timedelta(days=1)
# The headers a client's key travels in (app/api/auth.py reads both).
KEY_HEADERS = "Authorization, X-API-Key"
CHANNEL = "data_version"  # notified by data_version_bump() with each new version
ACK_CHANNEL = "data_version_held"  # "<listening backend's pid> <version>": a process holds that version
ACK_TIMEOUT = 0.5  # seconds a write's answer waits at most for the other processes
# The scope entry through which a request's cache key reaches `cached()` (set by ResponseCache).
FILL = "territory.cache"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CONTENT_HEADERS = (b"content-length", b"content-type", b"content-encoding")


def etag_of(body: bytes) -> str:
    # SHA-256, cut to 128 bits: with the CPU's SHA instructions it hashes a 60 kB map in ~30 µs, BLAKE2b in ~45.
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str, etag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    # Weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags


def is_settled(as_of: datetime | None) -> bool:
    """Whether the record as of this moment can no longer change."""
    return as_of is not None and as_of <= datetime.now(UTC) - SETTLED_AFTER


def cache_headers(
    settings: Settings, *, as_of: datetime | None = None, max_age: int | None = None
) -> dict[str, str]:
    """Cache-Control (and Vary when reads need a key) for an answer read live, or as of `as_of`."""
    audience = "private" if settings.require_read_key else "public"
    if is_settled(as_of):
        freshness = f"max-age={IMMUTABLE_MAX_AGE}, immutable"
    else:
        seconds = settings.cache_max_age if max_age is None else max_age
        freshness = f"max-age={seconds}" if seconds else "no-cache"
    headers = {"Cache-Control": f"{audience}, {freshness}"}
    if settings.require_read_key:
        headers["Vary"] = KEY_HEADERS
    return headers


def cached(
    request: Request,
    body: str | bytes,
    *dates: date | None,
    media_type: str = JSON,
    max_age: int | None = None,
    as_of: datetime | None = None,
) -> Response:
    """The answer with its ETag and caching headers, or 304 Not Modified when the client already has it.

    `as_of`: the moment the answer was read as of (None: live). `max_age` lets a cache reuse a live answer for
    that many seconds instead of TERRITORY_CACHE_MAX_AGE. The dates the answer is about do not matter any more
    (a past date can still be corrected); they are accepted so that every route keeps its call. The answer is
    kept for the next same request at this data version (ResponseCache)."""
    content = body.encode() if isinstance(body, str) else body
    etag = version_etag(request, keep=True) or etag_of(content)
    headers = {"ETag": etag, **cache_headers(request.app.state.settings, as_of=as_of, max_age=max_age)}
    if (if_none_match := request.headers.get("if-none-match")) and etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=media_type, headers=headers)


def version_etag(request: Request, *, keep: bool = False) -> str | None:
    """The ETag of this request's answer at the data version the process holds, known before the answer is read
    (so a streamed body can carry one); None when the version is not known (then hash the body). `keep`: the
    answer about to be sent may be kept for the same request."""
    fill: Fill | None = request.scope.get(FILL)
    if fill is None:
        return None
    if request.app.state.settings.require_read_key:
        api_key: ApiKey | None = getattr(request.state, "api_key", None)
        if api_key is None:
            return None
        fill.key_id = api_key.id
    fill.keep = fill.keep or keep
    return fill.etag()


def observed_version(request: Request, version: int) -> None:
    """A read that saw the data at `version` (a replica behind the primary): its answer is kept, and tagged, as
    of the lower of that and the version the process held when the request came."""
    fill: Fill | None = request.scope.get(FILL)
    if fill is not None and version < fill.version:
        fill.version = version


def version_etag_of(version: int, base: tuple[Any, ...], key_id: int | None) -> str:
    text = repr((version, base, key_id)).encode()
    return '"v' + hashlib.blake2b(text, digest_size=12).hexdigest() + '"'


def request_base(scope: Scope, host: bytes, accept: bytes) -> tuple[Any, ...]:
    """What an answer is a function of, besides the data version, the encoding and the read key (the module's
    text says why each is there)."""
    return (
        scope.get("scheme"),
        host,
        scope.get("root_path", ""),
        scope["path"],
        scope.get("query_string", b""),
        accept,
        date.today().toordinal(),
    )


def snapshot_etag(request: Request, version: int) -> str | None:
    """The ETag of this request's answer read in a snapshot at `version` (the data version that snapshot saw):
    the one a process holding `version` derives (`version_etag`). None when reads need a key and none was given
    (the route refuses it first)."""
    key_id: int | None = None
    if request.app.state.settings.require_read_key:
        api_key: ApiKey | None = getattr(request.state, "api_key", None)
        if api_key is None:
            return None
        key_id = api_key.id
    headers = request.headers
    base = request_base(
        request.scope, headers.get("host", "").encode("latin-1"), headers.get("accept", "").encode("latin-1")
    )
    return version_etag_of(version, base, key_id)


@dataclass
class Fill:
    """What the routes need to tag the answer and the middleware to keep it."""

    version: int
    base: tuple[Any, ...]  # the request's key, less the encoding and the read key
    gzip: bool
    key_id: int | None = None
    keep: bool = False  # cached() built the answer: it may be kept

    def etag(self) -> str:
        return version_etag_of(self.version, self.base, self.key_id)


class DataVersion:
    """The data version as this process knows it, or None while it cannot be trusted (see the module's text).

    Each process says which version it holds (ACK_CHANNEL, after each notification and each read); a process
    that wrote waits, before answering, until every other process that follows the version and still listens
    has said it holds the new one (at most ACK_TIMEOUT)."""

    def __init__(self, *, check_every: float) -> None:
        self.check_every = check_every
        self.listener: SharedListener | None = None
        self.current: int | None = None
        self._seen = 0  # the highest version notified on the present connection
        self._connection_count = 0
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Other processes' listening backends -> the highest version each said it holds.
        self.acks: dict[int, int] = {}
        self._acked = asyncio.Event()  # set (and replaced) on each acknowledgement
        self._announced = 0  # the version this process said it holds, on the present connection
        self._announcing: asyncio.Task[None] | None = None

    def _connected(self) -> None:
        self._connection_count += 1
        self._seen = self._announced = 0

    def _notified(self, payload: str) -> None:
        with contextlib.suppress(ValueError):
            version = int(payload)
            self._seen = max(self._seen, version)
            if self.current is not None and version > self.current:
                self.current = version
                self._announce()

    def _on_ack(self, payload: str) -> None:
        with contextlib.suppress(ValueError):
            pid, version = (int(part) for part in payload.split())
            self.acks[pid] = max(self.acks.get(pid, 0), version)
            self._acked.set()
            self._acked = asyncio.Event()

    def _on_lost(self) -> None:
        self.current = None
        self._lost.set()

    def _announce(self) -> None:
        """Say (in the background, the latest only) which version this process holds."""
        if self._announcing is None or self._announcing.done():
            self._announcing = asyncio.get_running_loop().create_task(self._announce_now())

    async def _announce_now(self) -> None:
        assert self.listener is not None
        with contextlib.suppress(Exception):  # a lost connection is handled by the check
            while (version := self.current) is not None and version > self._announced:
                await self.listener.fetchrow(ANNOUNCE, ACK_CHANNEL, str(version), timeout=self.check_every)
                self._announced = version

    async def read(self) -> tuple[int, list[int]]:
        """Read the version on the listening connection (connecting it if needed) and trust it from now on:
        anything committed after that read is notified on that connection. Also returns the listening backends
        of the other processes."""
        assert self.listener is not None, "start() first"
        self._lost.clear()
        count = self._connection_count
        row = await self.listener.fetchrow(READ_VERSION, LISTENER_NAME, timeout=self.check_every)
        if count != self._connection_count or self._lost.is_set():
            # Connected again meanwhile: notifications of the new connection may predate this read. Once more.
            count = self._connection_count
            row = await self.listener.fetchrow(READ_VERSION, LISTENER_NAME, timeout=self.check_every)
            if count != self._connection_count or self._lost.is_set():
                raise ConnectionError("the listening connection keeps changing")
        self.current = max(row["version"], self._seen, self.current or 0)
        self._announce()
        return self.current, list(row["others"])

    async def confirm(self) -> None:
        """After a write: the version again, so that this process's next answer includes the write, and the
        other processes' word that they hold it too."""
        if self.current is None:
            return
        try:
            version, others = await self.read()
        except Exception as exc:  # not trusted until the check reconnects
            self.current = None
            logger.warning("data version unknown after a write: %s", exc)
            return
        # Only processes that follow the version acknowledge (one with the cache off listens, says nothing).
        waiting = [pid for pid in others if pid in self.acks]
        try:
            async with asyncio.timeout(ACK_TIMEOUT):
                while late := [pid for pid in waiting if self.acks[pid] < version]:
                    await self._acked.wait()
        except TimeoutError:
            logger.warning("%d process(es) did not say they hold data version %d in time", len(late), version)

    def start(self, listener: SharedListener) -> None:
        """Follow the version on `listener`'s connection (the primary's) from now on."""
        self.listener = listener
        listener.watch(Watcher(CHANNEL, self._connected, self._notified, self._on_lost))
        listener.watch(Watcher(ACK_CHANNEL, lambda: None, self._on_ack, lambda: None))
        self._task = asyncio.get_running_loop().create_task(self._follow())

    async def stop(self) -> None:
        for task in (self._task, self._announcing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.current = None

    async def _follow(self) -> None:
        """Read the version every `check_every` seconds: it connects (again) when needed, notices a connection that
        no longer answers, and would catch a notification missed any other way."""
        pause = self.check_every
        while True:
            try:
                before = self.current
                now, others = await self.read()
                if before is not None and now > before:
                    logger.warning("data version %d read, %d was notified last", now, before)
                self.acks = {pid: v for pid, v in self.acks.items() if pid in others}  # gone ones forgotten
                pause = self.check_every
            except Exception as exc:
                self.current = None
                logger.warning("data version unknown, answers are not kept: %s", exc)
                pause = min(max(pause * 2, 0.5), 10.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), pause)


@dataclass
class Entry:
    headers: list[tuple[bytes, bytes]]
    body: bytes | None  # None: only a 304 was answered (its headers answer the next)
    etag: str  # the identity representation's ETag (an If-None-Match naming its gzip tag is turned into it)
    size: int


class ResponseCache:
    """Answers of one data version, least recently used dropped first, within `capacity` bytes."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.version = -1
        self.entries: OrderedDict[tuple[Any, ...], Entry] = OrderedDict()
        self.size = 0

    def get(self, version: int, key: tuple[Any, ...]) -> Entry | None:
        if version != self.version:
            return None
        entry = self.entries.get(key)
        if entry is not None:
            self.entries.move_to_end(key)
        return entry

    def admits(self, size: int) -> bool:
        """Whether an answer of `size` bytes may be kept: a larger one would push out too many others."""
        return size <= self.capacity // 4

    def put(self, version: int, key: tuple[Any, ...], entry: Entry) -> None:
        if version < self.version or not self.admits(entry.size):
            return  # an answer of an older version, or one too large
        if version > self.version:
            self.version, self.size = version, 0
            self.entries.clear()
        if (old := self.entries.pop(key, None)) is not None:
            self.size -= old.size
        self.entries[key] = entry
        self.size += entry.size
        while self.size > self.capacity:
            _, dropped = self.entries.popitem(last=False)
            self.size -= dropped.size


ENTRY_OVERHEAD = 400  # bytes an entry costs beyond its body and headers (the key, the objects)


class CacheMiddleware:
    """Before the routes: 304 and repeated answers at the data version the process holds, without a query; a
    write's answer waits until this process knows the version it made. Inside the request guard (HEAD is a GET
    by then), outside gzip (the encoded bytes are kept)."""

    def __init__(self, app: ASGIApp, settings: Settings, versions: DataVersion, store: ResponseCache) -> None:
        self.app, self.settings, self.versions, self.store = app, settings, versions, store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in SAFE_METHODS:
            await self.app(scope, receive, self._after_write(send))
            return
        version = self.versions.current
        if scope["method"] != "GET" or version is None:
            await self.app(scope, receive, send)
            return
        host = accept = encoding = if_none_match = b""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"accept":
                accept = value
            elif name == b"accept-encoding":
                encoding = value
            elif name == b"if-none-match":
                if_none_match = value
        gzip = bool(encoding) and gzip_accepted(encoding.decode("latin-1"))
        base = request_base(scope, host, accept)
        key_id: int | None = None
        if self.settings.require_read_key:
            # Private answers: the key is admitted as the routes would (one call on the primary, with the shared
            # rate), and the routes, on a miss, do not admit it again.
            secret = key_in(Headers(raw=scope["headers"]))  # as the routes read it
            if secret is None:  # the routes answer 401
                await self._fill(scope, receive, send, Fill(version, base, gzip))
                return
            client = scope.get("client")
            try:
                api_key = await admit_key(
                    scope["app"], secret, client=client[0] if client else None, scope="read"
                )
            except DomainError as error:
                await refuse(scope, receive, send, error)
                return
            scope.setdefault("state", {})["api_key"] = api_key
            key_id = api_key.id
        entry = self.store.get(version, (base, gzip, key_id))
        if entry is None:
            await self._fill(scope, receive, send, Fill(version, base, gzip, key_id))
            return
        if if_none_match:
            tags, had_gzip = identity_tags(if_none_match.decode("latin-1"))
            if etag_matches(tags, entry.etag):
                # The tag the client named, as GzipByEncoding answers it.
                etag = (gzip_tag(entry.etag) if had_gzip else entry.etag).encode()
                headers = [
                    (k, etag if k == b"etag" else v) for k, v in entry.headers if k not in CONTENT_HEADERS
                ]
                await send({"type": "http.response.start", "status": 304, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
                return
        if entry.body is None:  # known from a 304 only
            await self._fill(scope, receive, send, Fill(version, base, gzip, key_id))
            return
        await send({"type": "http.response.start", "status": 200, "headers": list(entry.headers)})
        await send({"type": "http.response.body", "body": entry.body})

    async def _fill(self, scope: Scope, receive: Receive, send: Send, fill: Fill) -> None:
        """The routes answer; a 200 that cached() built is kept for the next same request at this version."""
        scope = {**scope, FILL: fill}
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0

        async def keep(message: Message) -> None:
            nonlocal start, size, chunks
            if message["type"] == "http.response.start":
                if fill.keep and message["status"] == 304:  # its headers answer the next 304 here
                    self._keep(fill, list(message["headers"]), None)
                elif fill.keep and message["status"] == 200:
                    # Copied: middleware outside (CORS) may add to the list it is handed.
                    start = {**message, "headers": list(message["headers"])}
            elif start is not None:
                chunk = message.get("body", b"")
                size += len(chunk)
                if not self.store.admits(size):
                    # A streamed answer grown past what may be kept: let it pass, hold none of it.
                    start, chunks = None, []
                else:
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        self._keep(fill, start["headers"], b"".join(chunks))
            await send(message)

        await self.app(scope, receive, keep)

    def _keep(self, fill: Fill, headers: list[tuple[bytes, bytes]], body: bytes | None) -> None:
        key = (fill.base, fill.gzip, fill.key_id)
        if body is None and self.store.get(fill.version, key) is not None:
            return  # the whole answer is kept already
        size = len(body or b"") + sum(len(k) + len(v) for k, v in headers) + ENTRY_OVERHEAD
        self.store.put(fill.version, key, Entry(headers, body, fill.etag(), size))

    def _after_write(self, send: Send) -> Send:
        async def send_after_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self.versions.confirm()
            await send(message)

        return send_after_version
